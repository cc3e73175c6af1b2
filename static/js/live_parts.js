/* Parts of the job page that other apps fill (the evaluations part) follow the job's live state.
 *
 * Such a part is an element with ``data-live-part="<name>"`` and ``data-live-token``. While it waits for
 * news (an evaluation waiting for the job or running) it carries ``hx-get``; when the state's
 * ``parts[name]`` differs from its token, "<name>-changed" is triggered on it and HTMX swaps it. A page
 * that polls instead of streaming asks every waiting part now and then (``askWaitingParts``); the
 * server answers 204 while its token has not moved.
 */

export function partsWaiting() {
  return document.querySelector("[data-live-part][hx-get]") !== null;
}

export function refreshParts(parts) {
  if (!parts || !window.htmx) return;
  Object.keys(parts).forEach(function (name) {
    var part = document.querySelector('[data-live-part="' + name + '"]');
    if (part && part.getAttribute("hx-get") && part.dataset.liveToken !== parts[name]) {
      window.htmx.trigger(part, name + "-changed");
    }
  });
}

export function askWaitingParts() {
  if (!window.htmx) return;
  document.querySelectorAll("[data-live-part][hx-get]").forEach(function (part) {
    window.htmx.trigger(part, part.dataset.livePart + "-changed");
  });
}
