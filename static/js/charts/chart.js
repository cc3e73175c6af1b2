/* A uPlot chart of several lines: drawing, axes, zoom, hover readout and checkpoint marks.
 *
 * uPlot is the vendored global script, loaded by the page before these modules.
 */
import { align, smooth } from "./store.js";

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

/* One chart: each line is drawn twice, raw (faint) and smoothed (solid). */
export function Chart(el, options) {
  this.el = el;
  this.options = options; // {readout, legend, onZoom, onZoomChange}
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
