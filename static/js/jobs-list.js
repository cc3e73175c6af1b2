(function () {
  // The comparison URL lists the ids (?ids=3,5,8) so it can be shared; the boxes only build it.
  // Without this script the form still works: the view turns ?run=3&run=5 into that URL.
  // Listeners sit on the document: the live refresh replaces the form with the list's new rows.
  function selected(form) {
    return Array.from(form.querySelectorAll('input[name="run"]:checked')).map(function (b) { return b.value; });
  }
  function update() {
    var form = document.getElementById("compare-form");
    if (!form) return;
    var button = form.querySelector("[data-compare-button]");
    var hint = form.querySelector("[data-compare-hint]");
    var n = selected(form).length;
    button.disabled = n < 2 || n > 10;
    if (n) hint.textContent = n > 10 ? "At most 10 runs; untick " + (n - 10) + "." : n + " selected; tick 2 to 10 runs.";
  }
  document.addEventListener("change", function (event) {
    if (event.target.closest("#compare-form")) update();
  });
  document.addEventListener("runs-refreshed", update);
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "compare-form") return;
    event.preventDefault();
    window.location.assign(form.action + "?ids=" + selected(form).join(","));
  });
  update();
})();
