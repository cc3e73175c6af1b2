// The job page's entry module (a file, not an inline script, so the page runs under the CSP).
import { mountJob } from "./job_page.js";

mountJob(document.getElementById("loss-chart"), JSON.parse(document.getElementById("chart-metrics").textContent));
