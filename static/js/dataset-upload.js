// Dataset upload: drag and drop or pick a file, send it with a real progress bar, then follow the server.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = form.querySelector('input[type="file"]');
  const zone = document.getElementById("drop-zone");
  const chosen = document.getElementById("chosen-file");
  const errorBox = document.getElementById("upload-error");
  const progress = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-bar");
  const status = document.getElementById("upload-status");
  const button = document.getElementById("upload-button");

  function megabytes(bytes) {
    return (bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 2 : 1) + " MB";
  }
  function showChosen() {
    const file = input.files[0];
    chosen.textContent = file ? file.name + " · " + megabytes(file.size) : "";
  }
  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    progress.hidden = true;
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }

  input.addEventListener("change", showChosen);
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      showChosen();
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!input.files.length) {
      showError("Choose a .jsonl or .csv file to upload.");
      return;
    }
    errorBox.hidden = true;
    progress.hidden = false;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    const total = input.files[0].size;
    const request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    request.responseType = "json";
    request.upload.addEventListener("progress", function (e) {
      const size = e.lengthComputable ? e.total : total;
      const percent = size ? Math.min(100, Math.round((100 * e.loaded) / size)) : 0;
      bar.value = percent;
      status.textContent = "Uploading… " + megabytes(e.loaded) + " of " + megabytes(size) + " (" + percent + "%)";
    });
    request.upload.addEventListener("load", function () {
      bar.value = 100;
      status.textContent = "Uploaded " + megabytes(total) + ". Storing the version…";
    });
    request.addEventListener("load", function () {
      const body = request.response || {};
      if (request.status === 200 && body.redirect) {
        status.textContent = "Stored. Opening the version…";
        window.location.assign(body.redirect);
      } else {
        showError(body.error || "The upload failed (HTTP " + request.status + "). Try again.");
      }
    });
    request.addEventListener("error", function () {
      showError("The connection broke during the upload. Nothing was saved; try again.");
    });
    request.send(new FormData(form));
  });
})();
