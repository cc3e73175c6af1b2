(function () {
  // The comparison URL lists the ids (?ids=3,5,8) so it can be shared; the boxes only build it.
  // Without this script the form still works: the view turns ?run=3&run=5 into that URL.
  var form = document.getElementById("compare-form");
  if (!form) return;
  var button = form.querySelector("[data-compare-button]");
  var hint = form.querySelector("[data-compare-hint]");
  function selected() {
    return Array.from(form.querySelectorAll('input[name="run"]:checked')).map(function (b) { return b.value; });
  }
  function update() {
    var n = selected().length;
    button.disabled = n < 2 || n > 10;
    if (n) hint.textContent = n > 10 ? "At most 10 runs; untick " + (n - 10) + "." : n + " selected; tick 2 to 10 runs.";
  }
  form.addEventListener("change", update);
  update();
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    window.location.assign(form.action + "?ids=" + selected().join(","));
  });
})();
