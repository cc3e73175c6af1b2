/* The page's live channel: one Server-Sent Events stream that says when a watched job changed.
 *
 * ``handlers.event`` names the events to follow: "job" (the default) on job and comparison pages,
 * "runs" ({project, version}) on the runs list.
 *
 * Each "job" event is the job's state: {job, status, final, last_step, live, checkpoint, version} and,
 * when the worker recorded only a few points, the points themselves ({after, series}). A job page's
 * stream (opened with ``parts=<the parts version the page was built with>``) also carries, when they
 * changed, the page's parts rendered for this viewer ({part_html: {name: html}}) and the names of
 * those too big to carry ({parts_to_ask: [name]}). The page decides what to fetch. When the stream cannot work here (no EventSource, the server answers 204
 * under WSGI, a proxy that buffers it, repeated failures) ``onFallback`` is called once and the page
 * goes back to polling.
 */

// A stream that has said nothing this long after opening is being buffered somewhere on the way.
var FIRST_EVENT_MS = 10000;
// Failed reconnections in a row before polling instead: while a web process restarts (the browser
// retries every 2 s, the server's "retry"), about 30 s, so a restart or a deploy does not turn every
// open page into a poller for good; only 2 when the stream never opened at all (blocked, or refused on
// the way).
var MAX_FAILURES = 15;
var MAX_FAILURES_NEVER_OPENED = 2;

export function openLive(url, handlers) {
  var done = false, failures = 0, heard = false, opened = false, source = null, watchdog = null;

  function fallBack() {
    if (done) return;
    done = true;
    clearTimeout(watchdog);
    if (source) source.close();
    document.documentElement.dataset.live = "polling";
    handlers.onFallback();
  }

  if (!url || typeof window.EventSource !== "function") {
    setTimeout(fallBack, 0);
    return { close: function () { done = true; } };
  }

  source = new EventSource(url, { withCredentials: true });
  watchdog = setTimeout(function () { if (!heard) fallBack(); }, FIRST_EVENT_MS);
  source.addEventListener("open", function () {
    failures = 0;
    opened = true;
    document.documentElement.dataset.live = "streaming";
  });
  source.addEventListener(handlers.event || "job", function (event) {
    heard = true;
    var state;
    try { state = JSON.parse(event.data); } catch (e) { return; }
    handlers.onState(state);
  });
  // The server ends the stream when the viewer may no longer see the job (logged out, removed).
  source.addEventListener("end", fallBack);
  source.addEventListener("error", function () {
    if (done) return;
    // CLOSED: the server refused the stream (204, an error status, not an event stream); the browser
    // will not retry. CONNECTING: the browser retries by itself, sending the last event id back.
    if (source.readyState === EventSource.CLOSED) { fallBack(); return; }
    failures += 1;
    if (failures >= (opened ? MAX_FAILURES : MAX_FAILURES_NEVER_OPENED)) fallBack();
  });
  return {
    close: function () {
      done = true;
      clearTimeout(watchdog);
      source.close();
    },
  };
}

/* Whether the state's inline points continue what a chart holds (it holds up to ``held``). */
export function continues(points, held) {
  if (!points) return false;
  if (points.after == null) return true;
  return held != null && points.after <= held;
}
