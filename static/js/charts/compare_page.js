/* The comparison page's chart: each run's train and validation curves of one chart group, overlaid.
 * Runs still training grow as the page's live stream reports new points (the page does not poll).
 *
 * The chart element names the group (data-group); the page's metric table (``config``) says which of its
 * metrics is the train side, and each run says which metric stands for its validation side.
 */
import { Chart } from "./chart.js";
import { bindControls, legend, readout } from "./controls.js";
import { Store } from "./store.js";
import { continues, openLive } from "../live.js";

var SIDES = ["train", "valid"];

function trainMetricOf(metrics, group) {
  return Object.keys(metrics).find(function (name) {
    return metrics[name].group === group && metrics[name].side === "train";
  });
}

/* runs: [{id, label, colour, metrics_url, valid_metric, series: {train, valid}, steps_per_epoch,
 *         last_step, final}] */
export function mountCompare(el, runs, config) {
  var card = el.closest(".chart-card");
  var trainMetric = trainMetricOf(config.metrics, el.dataset.group);
  var zoomTimer = null, lastRange = "";
  var chart = new Chart(el, {
    readout: readout(el),
    legend: legend(el),
    onZoom: function (from, to, xMin, xMax) {
      var key = chart.settings.x + ":" + xMin + ":" + xMax;
      if (key === lastRange) return;
      clearTimeout(zoomTimer);
      zoomTimer = setTimeout(function () { loadRange(xMin, xMax, key); }, 200);
    },
  });
  var show = card.querySelector('[data-control="lines"]');
  // Each run's curves live in Stores, so a zoom can swap in the full-resolution points of its range.
  runs.forEach(function (run) {
    run.stores = {};
    SIDES.forEach(function (side) {
      run.stores[side] = new Store();
      if (run.series[side]) run.stores[side].append(run.series[side][0], run.series[side][1]);
    });
  });

  function linesFor() {
    var which = show ? show.value : "both";
    var lines = [];
    runs.forEach(function (run) {
      var epochMode = chart.settings.x === "epoch";
      if (epochMode && !run.steps_per_epoch) return;
      if (which !== "valid" && run.stores.train.xs.length) {
        lines.push({ label: run.label + " train", colour: run.colour, xs: run.stores.train.xs, ys: run.stores.train.ys, stepsPerEpoch: run.steps_per_epoch });
      }
      if (which !== "train" && run.stores.valid.xs.length) {
        lines.push({ label: run.label + " validation", colour: run.colour, dash: [6, 4], xs: run.stores.valid.xs, ys: run.stores.valid.ys, stepsPerEpoch: run.steps_per_epoch });
      }
    });
    return lines;
  }

  function publish(lines) {
    var count = 0;
    lines.forEach(function (line) { count += line.xs.length; });
    el.dataset.lineCount = String(lines.length);
    el.dataset.pointCount = String(count);
    card.querySelector(".chart-empty").hidden = lines.some(function (l) { return l.xs.length; });
  }

  function redraw() {
    chart.lines = linesFor();
    chart.render();
    publish(chart.lines);
  }

  function loadRange(xMin, xMax, key) {
    var epochMode = chart.settings.x === "epoch";
    var requests = runs.map(function (run) {
      var factor = epochMode ? run.steps_per_epoch || 1 : 1;
      var from = Math.max(0, Math.floor(xMin * factor)), to = Math.ceil(xMax * factor);
      return fetch(run.metrics_url + "?from=" + from + "&to=" + to, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (payload) {
          if (!payload) return;
          var series = payload.series || {};
          if (series[trainMetric]) run.stores.train.mergeRange(series[trainMetric][0], series[trainMetric][1], from, to);
          if (run.valid_metric && series[run.valid_metric]) {
            run.stores.valid.mergeRange(series[run.valid_metric][0], series[run.valid_metric][1], from, to);
          }
        });
    });
    Promise.all(requests).then(function () {
      lastRange = key;
      chart.lines = linesFor();
      chart.refresh();
      publish(chart.lines);
    });
  }

  /* A run's new points: appended to its train and validation curves. */
  function append(run, series) {
    if (series[trainMetric]) run.stores.train.append(series[trainMetric][0], series[trainMetric][1]);
    if (run.valid_metric && series[run.valid_metric]) {
      run.stores.valid.append(series[run.valid_metric][0], series[run.valid_metric][1]);
    }
  }

  function catchUp(run) {
    var after = run.last_step == null ? "" : run.last_step;
    fetch(run.metrics_url + "?after_step=" + after, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok || r.status === 286 ? r.json() : null; })
      .then(function (payload) {
        if (!payload) return;
        append(run, payload.series || {});
        if (payload.last_step != null) run.last_step = payload.last_step;
        redraw();
        if (payload.has_more) catchUp(run);
      });
  }

  function onState(job) {
    var run = runs.find(function (r) { return r.id === job.job; });
    if (!run) return;
    if (job.points && continues(job.points, run.last_step)) {
      append(run, job.points.series);
      run.last_step = job.last_step;
      redraw();
    } else if (job.last_step != null && (run.last_step == null || job.last_step > run.last_step)) {
      catchUp(run);
    }
    run.final = job.final;
    if (stream && runs.every(function (r) { return r.final; })) stream.close();
  }

  var stream = null;
  if (runs.some(function (r) { return !r.final; })) {
    // Without the stream the page stays as loaded, as it always has: reloading it shows new points.
    stream = openLive(el.dataset.liveUrl, { onState: onState, onFallback: function () { stream = null; } });
  }

  bindControls(card, chart);
  var log = card.querySelector('[data-control="log"]');
  var xAxis = card.querySelector('[data-control="x"]');
  [log, xAxis, show].forEach(function (control) { if (control) control.addEventListener("change", redraw); });
  var epochOption = card.querySelector('[data-control="x"] option[value="epoch"]');
  if (epochOption) epochOption.disabled = !runs.some(function (r) { return r.steps_per_epoch; });
  redraw();
}
