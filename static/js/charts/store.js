/* The points a chart holds for one series, and the arithmetic done on them before drawing. */

/* One series as parallel arrays of steps and values, in step order. */
export function Store() { this.xs = []; this.ys = []; }

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
export function smooth(ys, weight) {
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
export function align(lines) {
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
