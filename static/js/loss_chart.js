/* Loss charts for the job page (live) and the comparison page, drawn with uPlot.
 *
 * The server sends each series as two parallel arrays [steps, values]. The job page loads the whole
 * run once (downsampled by the server), then asks only for points after the last step it holds, and
 * stops asking when the server answers 286 (the job is final). Zooming fetches the visible range at
 * full resolution and merges it into what is held.
 */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var HIDDEN_POLL_MS = 10000;

  var METRICS = {
    train_loss: { label: "Train loss", colour: "#0072B2", group: "loss" },
    valid_loss: { label: "Validation loss", colour: "#D55E00", group: "loss" },
    full_valid_loss: { label: "Full validation loss", colour: "#009E73", group: "loss" },
    train_mean_token_accuracy: { label: "Train token accuracy", colour: "#0072B2", group: "accuracy" },
    valid_mean_token_accuracy: { label: "Validation token accuracy", colour: "#D55E00", group: "accuracy" },
  };

  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function fmt(value) {
    if (value == null || isNaN(value)) return "—";
    var abs = Math.abs(value);
    if (abs !== 0 && (abs < 0.001 || abs >= 100000)) return value.toExponential(3);
    return value.toFixed(4);
  }

  /* --- holding points ------------------------------------------------------------------------- */

  function Store() { this.xs = []; this.ys = []; }

  Store.prototype.append = function (xs, ys) {
    var last = this.xs.length ? this.xs[this.xs.length - 1] : -Infinity;
    for (var i = 0; i < xs.length; i++) {
      if (xs[i] > last) { this.xs.push(xs[i]); this.ys.push(ys[i]); last = xs[i]; }
    }
  };

  /* Replace what is held within [from, to] by the (denser) points the server sent for that range. */
  Store.prototype.mergeRange = function (xs, ys, from, to) {
    var outX = [], outY = [], i = 0, j = 0;
    while (i < this.xs.length && this.xs[i] < from) { outX.push(this.xs[i]); outY.push(this.ys[i]); i++; }
    while (i < this.xs.length && this.xs[i] <= to) i++;
    for (j = 0; j < xs.length; j++) { outX.push(xs[j]); outY.push(ys[j]); }
    for (; i < this.xs.length; i++) {
      if (!outX.length || this.xs[i] > outX[outX.length - 1]) { outX.push(this.xs[i]); outY.push(this.ys[i]); }
    }
    this.xs = outX; this.ys = outY;
  };

  /* Exponential moving average with the start-up bias removed, so early points are not pulled to 0. */
  function smooth(ys, weight) {
    if (!weight) return ys.slice();
    var out = new Array(ys.length), last = 0, count = 0;
    for (var i = 0; i < ys.length; i++) {
      var y = ys[i];
      if (y == null || !isFinite(y)) { out[i] = y; continue; }
      last = last * weight + (1 - weight) * y;
      count++;
      out[i] = last / (1 - Math.pow(weight, count));
    }
    return out;
  }

  /* Many lines with their own x values -> uPlot's aligned table [xs, ys1, ys2, ...] with nulls. */
  function align(lines) {
    var seen = new Set();
    lines.forEach(function (line) { line.xs.forEach(function (x) { seen.add(x); }); });
    var xs = Array.from(seen).sort(function (a, b) { return a - b; });
    var index = new Map();
    xs.forEach(function (x, i) { index.set(x, i); });
    var table = [xs];
    lines.forEach(function (line) {
      var ys = new Array(xs.length).fill(null);
      for (var i = 0; i < line.xs.length; i++) ys[index.get(line.xs[i])] = line.ys[i];
      table.push(ys);
    });
    return table;
  }

  /* --- drawing -------------------------------------------------------------------------------- */

  /* One chart: each line is drawn twice, raw (faint) and smoothed (solid). */
  function Chart(el, options) {
    this.el = el;
    this.options = options; // {readout, onZoom, xLabel()}
    this.plot = null;
    this.lines = [];
    this.zoomed = false;
    this.settings = { smoothing: 0.6, log: false, x: "step" };
  }

  Chart.prototype.table = function () {
    var self = this;
    var perLine = [];
    self.lines.forEach(function (line) {
      var spe = line.stepsPerEpoch;
      var xs = self.settings.x === "epoch" && spe ? line.xs.map(function (s) { return s / spe; }) : line.xs;
      perLine.push({ xs: xs, ys: line.ys });
    });
    var table = align(perLine);
    var out = [table[0]];
    for (var i = 1; i < table.length; i++) {
      out.push(table[i]);
      out.push(smooth(table[i], self.settings.smoothing));
    }
    return out;
  };

  Chart.prototype.series = function () {
    var series = [{ label: this.settings.x === "epoch" ? "Epoch" : "Step" }];
    this.lines.forEach(function (line) {
      var sparse = line.xs.length < 60;
      series.push({
        label: line.label + " (raw)", stroke: rgba(line.colour, 0.28), width: 1, spanGaps: true,
        dash: line.dash, points: { show: false },
      });
      series.push({
        label: line.label, stroke: line.colour, width: 2, spanGaps: true, dash: line.dash,
        points: { show: sparse, size: 5, fill: line.colour },
      });
    });
    return series;
  };

  Chart.prototype.width = function () { return Math.max(280, this.el.clientWidth || 600); };

  Chart.prototype.render = function () {
    var self = this;
    if (self.plot) { self.plot.destroy(); self.plot = null; }
    self.zoomed = false;
    if (!self.lines.some(function (l) { return l.xs.length; })) return;
    var opts = {
      width: self.width(),
      height: self.el.clientWidth < 500 ? 240 : 340,
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      scales: { x: { time: false }, y: { distr: self.settings.log ? 3 : 1 } },
      axes: [
        { label: self.settings.x === "epoch" ? "epoch" : "step", stroke: "#6b7280", grid: { stroke: "#e5e7eb" } },
        { stroke: "#6b7280", grid: { stroke: "#e5e7eb" }, size: 56 },
      ],
      series: self.series(),
      hooks: {
        setCursor: [function (u) { self.readout(u); }],
        setScale: [function (u, key) { if (key === "x") self.scaleChanged(u); }],
        draw: [function (u) { self.drawMarks(u); }],
      },
    };
    self.plot = new uPlot(opts, self.table(), self.el);
    self.el.uplot = self.plot;
    self.drawLegend();
  };

  Chart.prototype.drawLegend = function () {
    var box = this.options.legend;
    if (!box) return;
    box.textContent = "";
    this.lines.forEach(function (line) {
      var item = document.createElement("span");
      item.className = "chart-key";
      var swatch = document.createElement("span");
      swatch.className = line.dash ? "key-line dashed" : "key-line";
      swatch.style.borderColor = line.colour;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(line.label));
      box.appendChild(item);
    });
  };

  /* New data without losing the reader's zoom. */
  Chart.prototype.refresh = function () {
    if (!this.plot) { this.render(); return; }
    var keep = this.zoomed ? { min: this.plot.scales.x.min, max: this.plot.scales.x.max } : null;
    this.plot.setData(this.table(), !keep);
    if (keep) this.plot.setScale("x", keep);
  };

  Chart.prototype.resize = function () {
    if (this.plot) this.plot.setSize({ width: this.width(), height: this.plot.height });
  };

  Chart.prototype.scaleChanged = function (u) {
    var xs = u.data[0];
    if (!xs.length) return;
    var min = u.scales.x.min, max = u.scales.x.max;
    this.zoomed = min > xs[0] || max < xs[xs.length - 1];
    if (this.options.onZoomChange) this.options.onZoomChange(this.zoomed);
    if (this.zoomed && this.options.onZoom) {
      var factor = this.settings.x === "epoch" ? this.lines[0].stepsPerEpoch || 1 : 1;
      // Steps for a single run; the raw x range too, for runs whose epochs differ in length.
      this.options.onZoom(Math.floor(min * factor), Math.ceil(max * factor), min, max);
    }
  };

  Chart.prototype.drawMarks = function (u) {
    var self = this, ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
    ctx.save();
    ctx.setLineDash([4, 4]);
    ctx.lineWidth = 1;
    ctx.font = 11 * devicePixelRatio + "px sans-serif";
    self.lines.forEach(function (line) {
      if (!line.checkpoints) return;
      line.checkpoints.forEach(function (step) {
        var x = self.settings.x === "epoch" && line.stepsPerEpoch ? step / line.stepsPerEpoch : step;
        if (x < u.scales.x.min || x > u.scales.x.max) return;
        var px = Math.round(u.valToPos(x, "x", true));
        ctx.strokeStyle = rgba(line.markColour || "#6b7280", 0.7);
        ctx.beginPath(); ctx.moveTo(px, top); ctx.lineTo(px, top + height); ctx.stroke();
        ctx.fillStyle = "#6b7280";
        ctx.fillText("ckpt " + step, px + 3 * devicePixelRatio, top + 12 * devicePixelRatio);
      });
    });
    ctx.restore();
  };

  Chart.prototype.readout = function (u) {
    var box = this.options.readout;
    if (!box) return;
    var idx = u.cursor.idx;
    if (idx == null) { box.textContent = box.dataset.hint || ""; return; }
    var parts = [(this.settings.x === "epoch" ? "epoch " + u.data[0][idx].toFixed(2) : "step " + u.data[0][idx])];
    for (var i = 0; i < this.lines.length; i++) {
      var raw = u.data[1 + 2 * i][idx], smoothed = u.data[2 + 2 * i][idx];
      if (raw == null) continue;
      var text = this.lines[i].label + " " + fmt(raw);
      if (this.settings.smoothing) text += " (smoothed " + fmt(smoothed) + ")";
      parts.push(text);
    }
    box.textContent = parts.join(" · ");
  };

  /* --- controls shared by both pages -------------------------------------------------------------- */

  function bindControls(root, chart, onChange) {
    var slider = root.querySelector('[data-control="smoothing"]');
    var shown = root.querySelector("[data-smoothing-value]");
    if (slider) {
      chart.settings.smoothing = parseFloat(slider.value);
      slider.addEventListener("input", function () {
        chart.settings.smoothing = parseFloat(slider.value);
        if (shown) shown.textContent = chart.settings.smoothing.toFixed(2);
        chart.refresh();
      });
    }
    var log = root.querySelector('[data-control="log"]');
    if (log) log.addEventListener("change", function () { chart.settings.log = log.checked; chart.render(); });
    var xAxis = root.querySelector('[data-control="x"]');
    if (xAxis) xAxis.addEventListener("change", function () { chart.settings.x = xAxis.value; chart.render(); });
    var reset = root.querySelector('[data-control="reset"]');
    if (reset) reset.addEventListener("click", function () { chart.render(); reset.hidden = true; });
    chart.options.onZoomChange = function (zoomed) { if (reset) reset.hidden = !zoomed; };
    var pending;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () { chart.resize(); }, 150);
    });
    if (onChange) onChange();
  }

  function legend(el) {
    var box = document.createElement("div");
    box.className = "chart-legend small";
    el.insertAdjacentElement("afterend", box);
    return box;
  }

  function readout(el) {
    var box = document.createElement("p");
    box.className = "chart-readout small";
    box.dataset.hint = "Hover over the chart to read exact values.";
    box.textContent = box.dataset.hint;
    el.insertAdjacentElement("afterend", box);
    return box;
  }

  /* --- the job page ------------------------------------------------------------------------------ */

  function mountJob(el) {
    var card = el.closest(".chart-card");
    var url = el.dataset.metricsUrl;
    var stores = {};
    Object.keys(METRICS).forEach(function (name) { stores[name] = new Store(); });
    var state = { lastStep: null, final: el.dataset.final === "true", stepsPerEpoch: null, checkpoints: [], group: "loss" };
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

    function linesFor(group) {
      return Object.keys(METRICS).filter(function (name) {
        return METRICS[name].group === group && stores[name].xs.length;
      }).map(function (name) {
        var m = METRICS[name];
        return {
          label: m.label, colour: m.colour, xs: stores[name].xs, ys: stores[name].ys,
          stepsPerEpoch: state.stepsPerEpoch, checkpoints: name === "train_loss" || name === "train_mean_token_accuracy" ? state.checkpoints : null,
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
      var accuracyTab = card.querySelector('[data-metric-tab="accuracy"]');
      accuracyTab.hidden = !stores.train_mean_token_accuracy.xs.length && !stores.valid_mean_token_accuracy.xs.length;
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

    card.querySelectorAll("[data-metric-tab]").forEach(function (tab) {
      tab.addEventListener("click", function (event) {
        event.preventDefault();
        state.group = tab.dataset.metricTab;
        card.querySelectorAll("[data-metric-tab]").forEach(function (t) {
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

  /* --- the comparison page ---------------------------------------------------------------------- */

  function mountCompare(el, runs) {
    var card = el.closest(".chart-card");
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
      ["train", "valid"].forEach(function (kind) {
        run.stores[kind] = new Store();
        if (run.series[kind]) run.stores[kind].append(run.series[kind][0], run.series[kind][1]);
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
            if (series.train_loss) run.stores.train.mergeRange(series.train_loss[0], series.train_loss[1], from, to);
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

    bindControls(card, chart);
    var log = card.querySelector('[data-control="log"]');
    var xAxis = card.querySelector('[data-control="x"]');
    [log, xAxis, show].forEach(function (control) { if (control) control.addEventListener("change", redraw); });
    var epochOption = card.querySelector('[data-control="x"] option[value="epoch"]');
    if (epochOption) epochOption.disabled = !runs.some(function (r) { return r.steps_per_epoch; });
    redraw();
  }

  window.LossChart = { mountJob: mountJob, mountCompare: mountCompare, smooth: smooth, align: align, Store: Store };
})();
