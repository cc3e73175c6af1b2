/* OpenAI launch form: choosing a method opens its settings (DPO, RFT) and folds the other method's,
   unless a field there has an error to show. The data lists follow the method through the hints part. */
(function () {
  var form = document.getElementById("job-form");
  var method = form && form.querySelector("#id_method");
  if (!method) return;
  method.addEventListener("change", function () {
    form.querySelectorAll("details[data-method]").forEach(function (section) {
      if (section.dataset.method === method.value) section.open = true;
      else if (!section.querySelector(".field-error")) section.open = false;
    });
  });
})();
