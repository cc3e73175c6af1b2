// Small behaviours of forms, declared by attributes so pages need no inline script (the CSP allows none).
(function () {
  // Forms with data-confirm="question" ask before they are sent (destructive actions: revoke, remove).
  // Forms that HTMX sends use hx-confirm instead, which HTMX asks before its own request.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !form.hasAttribute("hx-post") && !window.confirm(question)) event.preventDefault();
  }, true);
  // Forms marked data-submit-once: the submit button is disabled (and shows it is busy) once the form is
  // sent, so a double click sends it once. The server holds the real guarantee (a one-time form token);
  // this spares the user the question of whether the first click worked.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-submit-once]") || event.defaultPrevented) return;
    // After this event, so the browser has already taken the form's data.
    setTimeout(function () {
      form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (button) {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
        if (button.dataset.busyLabel) button.textContent = button.dataset.busyLabel;
      });
    }, 0);
  });
  // Coming back with the browser's Back button shows the page as it was left: enable the buttons again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-submit-once] button[aria-busy=true]").forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    });
  });
})();
