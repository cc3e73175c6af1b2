/* What both chart pages share around the chart: its controls, its key and its hover readout. */

export function bindControls(root, chart, onChange) {
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

export function legend(el) {
  var box = document.createElement("div");
  box.className = "chart-legend small";
  el.insertAdjacentElement("afterend", box);
  return box;
}

export function readout(el) {
  var box = document.createElement("p");
  box.className = "chart-readout small";
  box.dataset.hint = "Hover over the chart to read exact values.";
  box.textContent = box.dataset.hint;
  el.insertAdjacentElement("afterend", box);
  return box;
}
