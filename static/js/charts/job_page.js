/* The job page's chart: loads the whole run once (downsampled by the server), then follows the page's
 * live stream: new points arrive inline, or the chart asks for the points after the last step it holds.
 * The stream also carries the page's status, events and outputs parts when they change, swapped in here.
 * Where the stream cannot work it polls for those points instead, and stops when the server answers
 * 286 (the job is final). Zooming fetches the visible range at full resolution and merges it in.
 *
 * Which metrics exist, their labels, colours and chart tabs come from the page (``config``): this script
 * names none of them.
 */
import { Chart } from "./chart.js";
import { bindControls, legend, readout } from "./controls.js";
import { Store } from "./store.js";
import { continues, openLive } from "../live.js";
import { askWaitingParts, partsWaiting, refreshParts } from "../live_parts.js";

var POLL_MS = 2000;
var HIDDEN_POLL_MS = 10000;
// Without the stream, the status and events parts are asked every so often (204 when unchanged).
var LIVE_PARTS_POLL_MS = 10000;
// When the stream says the status and events changed, every open page asks for them: spread the asks.
var LIVE_PARTS_SPREAD_MS = 1000;

/* config: {metrics: {name: {label, colour, group, side}}, checkpoint_series: [name, ...]} */
export function mountJob(el, config) {
  var metrics = config.metrics;
  var names = Object.keys(metrics);
  var marked = new Set(config.checkpoint_series);
  var card = el.closest(".chart-card");
  var tabs = card.querySelectorAll("[data-metric-tab]");
  // A tab the page starts hidden shows once its metrics have points; the others always show.
  var tabsShownWithPoints = Array.prototype.filter.call(tabs, function (tab) { return tab.hidden; });
  var firstTab = card.querySelector('[data-metric-tab][aria-current="page"]');
  var url = el.dataset.metricsUrl;
  var liveUrl = el.dataset.liveUrl;
  var stores = {};
  names.forEach(function (name) { stores[name] = new Store(); });
  var state = {
    lastStep: null, final: el.dataset.final === "true", stepsPerEpoch: null, checkpoints: [],
    group: firstTab ? firstTab.dataset.metricTab : metrics[names[0]].group,
  };
  var zoomTimer = null, lastRange = "";
  var chart = new Chart(el, {
    readout: readout(el),
    legend: legend(el),
    onZoom: function (from, to) {
      var key = from + ":" + to;
      if (key === lastRange) return;
      clearTimeout(zoomTimer);
      zoomTimer = setTimeout(function () { loadRange(from, to, key); }, 200);
    },
  });

  function hasPoints(group) {
    return names.some(function (name) { return metrics[name].group === group && stores[name].xs.length; });
  }

  function linesFor(group) {
    return names.filter(function (name) {
      return metrics[name].group === group && stores[name].xs.length;
    }).map(function (name) {
      var m = metrics[name];
      return {
        label: m.label, colour: m.colour, xs: stores[name].xs, ys: stores[name].ys,
        stepsPerEpoch: state.stepsPerEpoch, checkpoints: marked.has(name) ? state.checkpoints : null,
      };
    });
  }

  function publish() {
    var count = 0;
    Object.keys(stores).forEach(function (name) { count += stores[name].xs.length; });
    el.dataset.pointCount = String(count);
    el.dataset.lastStep = state.lastStep == null ? "" : String(state.lastStep);
    el.dataset.final = state.final ? "true" : "false";
    // The status part refreshes its figures every so often; the step shown beside the chart keeps up.
    var stepFigure = document.querySelector('[data-figure="last-step"]');
    if (stepFigure && state.lastStep != null) stepFigure.textContent = String(state.lastStep);
    card.querySelector(".chart-empty").hidden = count > 0;
    tabsShownWithPoints.forEach(function (tab) { tab.hidden = !hasPoints(tab.dataset.metricTab); });
    var epochOption = card.querySelector('[data-control="x"] option[value="epoch"]');
    if (epochOption) epochOption.disabled = !state.stepsPerEpoch;
  }

  function take(payload, mode) {
    var series = payload.series || {};
    Object.keys(series).forEach(function (name) {
      if (!stores[name]) return;
      if (mode === "range") stores[name].mergeRange(series[name][0], series[name][1], payload.from, payload.to);
      else stores[name].append(series[name][0], series[name][1]);
    });
    if (mode !== "range" && payload.last_step != null) state.lastStep = payload.last_step;
    if (payload.checkpoints) state.checkpoints = payload.checkpoints;
    if (payload.steps_per_epoch) state.stepsPerEpoch = payload.steps_per_epoch;
  }

  function redraw(full) {
    chart.lines = linesFor(state.group);
    if (full) chart.render(); else chart.refresh();
    publish();
  }

  function loadRange(from, to, key) {
    fetch(url + "?from=" + from + "&to=" + to, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (payload) {
        if (!payload) return;
        lastRange = key;
        take(payload, "range");
        redraw(false);
      });
  }

  function schedule(ms) { setTimeout(poll, ms); }

  /* The status and events parts refresh through HTMX when the stream does not carry them: the chart's
   * poll says when they changed. spreadMs: the window the stream gives (wider as more pages watch the
   * job), else the page's own. */
  function refreshLiveParts(version, spread, spreadMs) {
    var live = document.getElementById("job-events");
    if (!version || !live || live.dataset.liveVersion === version || !window.htmx) return;
    setTimeout(function () {
      var current = document.getElementById("job-events");
      if (current && current.dataset.liveVersion !== version) window.htmx.trigger(current, "live-changed");
    }, spread ? Math.random() * (spreadMs || LIVE_PARTS_SPREAD_MS) : 0);
  }

  /* Parts an event names instead of carrying (too big; "*": none could be rendered), each asked alone
   * at a moment of the stream's window. */
  function askParts(names, spreadMs) {
    if (!window.htmx) return;
    if (names.indexOf("*") !== -1) names = Object.keys(PART_IDS);
    setTimeout(function () {
      names.forEach(function (name) {
        if (!PART_IDS[name] || !document.getElementById(PART_IDS[name])) return;
        window.htmx.ajax("GET", window.location.pathname + "?part=" + name, {
          target: "#" + PART_IDS[name], swap: "outerHTML",
        });
      });
    }, Math.random() * (spreadMs || LIVE_PARTS_SPREAD_MS));
  }

  /* The parts the stream carried, rendered for this viewer, put in place of the page's: no request.
   * htmx processes each new part, so its forms (cancel, pause) post as the page's own do. */
  var PART_IDS = { status: "job-status", events: "job-events", outputs: "job-outputs" };
  function takeParts(job) {
    Object.keys(job.part_html).forEach(function (name) {
      var current = document.getElementById(PART_IDS[name]);
      if (!current) return;
      var holder = document.createElement("template");
      holder.innerHTML = job.part_html[name];
      var fresh = holder.content.firstElementChild;
      if (!fresh) return;
      keepStepLog(current);
      current.replaceWith(fresh);
      if (window.htmx) window.htmx.process(fresh);
      restoreStepLog();
    });
    if (job.parts_to_ask) askParts(job.parts_to_ask, job.spread_ms);
    publish();
  }

  /* The points after the last step held, in as many asks as the server needs (the stream's catch-up). */
  var catchingUp = false, catchUpAgain = false;
  function catchUp(from) {
    if (catchingUp) { catchUpAgain = true; return; }
    catchingUp = true;
    var after = from !== undefined ? from : state.lastStep == null ? "" : state.lastStep;
    fetch(url + "?after_step=" + after, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok && r.status !== 286) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (payload) {
        var before = state.lastStep;
        take(payload, "append");
        if (state.lastStep !== before || payload.checkpoints) redraw(!chart.plot); else publish();
        catchingUp = false;
        if (payload.has_more || catchUpAgain) { catchUpAgain = false; catchUp(); }
      })
      .catch(function () { catchingUp = false; });
  }

  var seenCheckpoint;
  function onState(job) {
    if (job.points && continues(job.points, state.lastStep)) {
      var before = state.lastStep;
      take({ series: job.points.series, last_step: job.last_step }, "append");
      if (state.lastStep !== before) redraw(!chart.plot);
    } else if (job.last_step != null && (state.lastStep == null || job.last_step > state.lastStep)) {
      catchUp();
    }
    if (seenCheckpoint !== undefined && job.checkpoint !== seenCheckpoint && state.lastStep != null) {
      catchUp(state.lastStep - 1); // the answer lists the checkpoint steps
    }
    seenCheckpoint = job.checkpoint;
    // A stream opened with the page's parts version carries the parts that changed (``part_html``).
    if (job.part_html) takeParts(job); else refreshLiveParts(job.live, true, job.spread_ms);
    refreshParts(job.parts);
    if (job.final) {
      state.final = true;
      publish();
      // A part of another app (an evaluation of the job's model) may still change: keep following it.
      if (stream && !partsWaiting()) stream.close();
    }
  }

  /* Without the stream, other apps' parts that wait for news are asked as often as the live parts. */
  function pollWaitingParts() {
    if (!partsWaiting()) return;
    askWaitingParts();
    setTimeout(pollWaitingParts, LIVE_PARTS_POLL_MS);
  }

  function pollLiveParts() {
    if (state.final) return;
    var live = document.getElementById("job-events");
    if (live && window.htmx) window.htmx.trigger(live, "live-changed");
    setTimeout(pollLiveParts, LIVE_PARTS_POLL_MS);
  }

  var stream = null;
  function follow() {
    stream = openLive(liveUrl, {
      onState: onState,
      onFallback: function () {
        stream = null;
        setTimeout(pollWaitingParts, LIVE_PARTS_POLL_MS);
        if (state.final) return;
        schedule(0);
        setTimeout(pollLiveParts, LIVE_PARTS_POLL_MS);
      },
    });
  }

  /* The events part is swapped whole every refresh: an opened training log stays open (and scrolled). */
  var stepLog = { open: false, scroll: 0 };
  function keepStepLog(target) {
    var log = document.getElementById("step-log");
    if (log && target && target.contains(log)) {
      var list = log.querySelector(".events");
      stepLog = { open: log.open, scroll: list ? list.scrollTop : 0 };
    }
  }
  function restoreStepLog() {
    var log = document.getElementById("step-log"), kept = stepLog;
    stepLog = { open: false, scroll: 0 };
    if (log && kept.open && !log.open) {
      log.open = true;
      var list = log.querySelector(".events");
      if (list) list.scrollTop = kept.scroll;
    }
  }
  document.body.addEventListener("htmx:beforeSwap", function (event) { keepStepLog(event.detail.target); });
  document.body.addEventListener("htmx:afterSwap", function () {
    // The last news of another app's part came in: nothing is left to follow on a final job.
    if (state.final && stream && !partsWaiting()) {
      stream.close();
      stream = null;
    }
    restoreStepLog();
  });

  function poll() {
    var after = state.lastStep == null ? "" : state.lastStep;
    fetch(url + "?after_step=" + after, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 286) state.final = true;
        else if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (payload) {
        var before = state.lastStep;
        take(payload, "append");
        if (payload.final && !payload.has_more) state.final = true;
        refreshLiveParts(payload.live_version);
        if (state.lastStep !== before) redraw(!chart.plot); else publish();
        if (!state.final) schedule(payload.has_more ? 0 : document.hidden ? HIDDEN_POLL_MS : POLL_MS);
      })
      .catch(function () { if (!state.final) schedule(POLL_MS * 4); });
  }

  tabs.forEach(function (tab) {
    tab.addEventListener("click", function (event) {
      event.preventDefault();
      state.group = tab.dataset.metricTab;
      tabs.forEach(function (t) {
        if (t === tab) t.setAttribute("aria-current", "page"); else t.removeAttribute("aria-current");
      });
      redraw(true);
    });
  });
  bindControls(card, chart);

  fetch(url, { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (payload) {
      take(payload, "append");
      if (payload.final) state.final = true;
      redraw(true);
      if (!state.final || partsWaiting()) follow();
    });
}
