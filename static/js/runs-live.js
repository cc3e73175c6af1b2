/* The runs list follows its project's live stream: when a run is added, moves or progresses, the event
 * carries the list's rows rendered for its filters and page, swapped in keeping the ticked boxes (or,
 * when the rows are too big to carry, the list asks for them).
 * Where the stream cannot work it asks every POLL_MS instead; the server answers 204 while nothing
 * changed.
 */
import { openLive } from "./live.js";

var POLL_MS = 5000;
var HIDDEN_POLL_MS = 20000;
// When the stream says the list changed, every open list asks for its rows: spread the asks.
var SPREAD_MS = 1000;

var root = document.getElementById("runs-live");
if (root) follow(root);

function follow(root) {
  var asking = false, again = false;

  function results() { return document.getElementById("runs-results"); }

  function resultsUrl() {
    var url = new URL(window.location.href);
    url.searchParams.set("part", "results");
    url.searchParams.set("v", results().dataset.version);
    return url.toString();
  }

  function refresh() {
    if (asking) { again = true; return; }
    asking = true;
    fetch(resultsUrl(), { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) { return response.status === 200 ? response.text() : null; })
      .then(function (html) { if (html) swap(html); })
      .catch(function () {})
      .finally(function () {
        asking = false;
        if (again) { again = false; refresh(); }
      });
  }

  function swap(html) {
    var ticked = new Set(Array.from(document.querySelectorAll('#compare-form input[name="run"]:checked'))
      .map(function (box) { return box.value; }));
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("#runs-results");
    if (!fresh) return;
    fresh.querySelectorAll('input[name="run"]').forEach(function (box) { box.checked = ticked.has(box.value); });
    results().replaceWith(fresh);
    document.dispatchEvent(new CustomEvent("runs-refreshed"));
  }

  function poll() {
    refresh();
    setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  }

  /* The stream carries the rows rendered for this list's filters and page when they changed. */
  function liveUrl() {
    var shown = new URLSearchParams(window.location.search);
    shown.delete("part");
    shown.delete("v");
    var url = new URL(root.dataset.liveUrl, window.location.href);
    url.searchParams.set("parts", results().dataset.version);
    url.searchParams.set("query", shown.toString());
    return url.toString();
  }

  openLive(liveUrl(), {
    event: "runs",
    onState: function (state) {
      if (state.part_html && state.part_html.results) swap(state.part_html.results);
      var asked = state.parts_to_ask && state.parts_to_ask.length;
      if (!asked && (state.part_html || state.version === results().dataset.version)) return;
      // The stream's window is wider as more lists watch the project.
      setTimeout(refresh, Math.random() * (state.spread_ms || SPREAD_MS));
    },
    onFallback: function () { setTimeout(poll, POLL_MS); },
  });
}
