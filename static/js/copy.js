// Buttons with data-copy="text" put that text on the clipboard (a model id to paste into code).
// Delegated from the document, so buttons in fragments HTMX swaps in work too.
(function () {
  function copied(button) {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  }
  function fallback(text, button) {
    // Without a secure context (plain http on a LAN) there is no clipboard API; a selected field is.
    var field = document.createElement("textarea");
    field.value = text;
    field.setAttribute("readonly", "");
    field.style.position = "fixed";
    field.style.opacity = "0";
    document.body.appendChild(field);
    field.select();
    try { if (document.execCommand("copy")) copied(button); } finally { field.remove(); }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var text = button.getAttribute("data-copy");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button); }, function () { fallback(text, button); });
    } else {
      fallback(text, button);
    }
  });
})();
