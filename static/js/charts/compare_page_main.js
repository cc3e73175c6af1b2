// The comparison page's entry module (a file, not an inline script, so the page runs under the CSP).
import { mountCompare } from "./compare_page.js";

// Each run's colour, set through the DOM: a style attribute in the markup would need 'unsafe-inline'.
document.querySelectorAll(".swatch[data-colour]").forEach((swatch) => {
  swatch.style.background = swatch.dataset.colour;
});

mountCompare(
  document.getElementById("compare-chart"),
  JSON.parse(document.getElementById("compare-runs").textContent),
  JSON.parse(document.getElementById("chart-metrics").textContent),
);

const toggle = document.getElementById("differences-only");
const table = document.getElementById("compare-table");
if (toggle && table) {
  toggle.addEventListener("change", () => table.classList.toggle("differences-only", toggle.checked));
}
