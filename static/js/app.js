// Small progressive enhancements; every form also works without this file.
(function () {
  "use strict";

  // Drag and drop onto a [data-dropzone]: the dropped files go into its file input and the form is sent.
  function initDropzone(zone) {
    if (zone.dataset.ready) return;
    zone.dataset.ready = "1";
    var input = zone.querySelector('input[type="file"]');
    if (!input) return;
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.remove("dragging");
      });
    });
    zone.addEventListener("drop", function (event) {
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
      var form = zone.closest("form");
      if (form && form.requestSubmit) form.requestSubmit();
    });
    input.addEventListener("change", function () {
      var list = zone.querySelector("[data-file-names]");
      if (list) {
        list.textContent = Array.prototype.map.call(input.files, function (f) { return f.name; }).join(", ");
      }
    });
  }

  function init(root) {
    (root || document).querySelectorAll("[data-dropzone]").forEach(initDropzone);
  }

  // A poll or form whose session ended is redirected to the login page: show that page whole, not inside a panel.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.responseURL && xhr.responseURL.indexOf("/login/") !== -1) {
      event.detail.shouldSwap = false;
      window.location.assign(xhr.responseURL);
    }
  });
  // Something polled was deleted or finalized elsewhere (404) or access was withdrawn (403): reload to say so.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr && event.detail.xhr.status;
    if (status === 403 || status === 404) window.location.reload();
  });

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
