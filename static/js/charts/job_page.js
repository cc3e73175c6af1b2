/* The job page's chart: loads the whole run once (downsampled by the server), then asks only for points
 * after the last step it holds, and stops asking when the server answers 286 (the job is final).
 * Zooming fetches the visible range at full resolution and merges it into what is held.
 *
 * Which metrics exist, their labels, colours and chart tabs come from the page (``config``): this script
 * names none of them.
 */
import { Chart } from "./chart.js";
import { bindControls, legend, readout } from "./controls.js";
import { Store } from "./store.js";

var POLL_MS = 2000;
var HIDDEN_POLL_MS = 10000;

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

  /* The status and events parts refresh through HTMX; the chart's poll says when they changed. */
  function refreshLiveParts(version) {
    var live = document.getElementById("job-events");
    if (version && live && live.dataset.liveVersion !== version && window.htmx) {
      window.htmx.trigger(live, "live-changed");
    }
  }

  /* The events part is swapped whole every refresh: an opened training log stays open (and scrolled). */
  var stepLog = { open: false, scroll: 0 };
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var log = document.getElementById("step-log");
    if (log && event.detail.target && event.detail.target.contains(log)) {
      var list = log.querySelector(".events");
      stepLog = { open: log.open, scroll: list ? list.scrollTop : 0 };
    }
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    var log = document.getElementById("step-log");
    if (log && stepLog.open && !log.open) {
      log.open = true;
      var list = log.querySelector(".events");
      if (list) list.scrollTop = stepLog.scroll;
    }
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
      if (!state.final) schedule(POLL_MS);
    });
}
