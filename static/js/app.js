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

  // The KB page's "tick every document on this page" box ([data-select-all] names the checkboxes it ticks).
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-select-all]")) return;
    var name = box.getAttribute("data-select-all");
    document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (item) {
      if (item.form === box.form) item.checked = box.checked;
    });
  });
  // A polled list is not swapped while someone is choosing in it (ticked documents, a filter being typed):
  // the swap would drop their choice. The next poll after they are done goes through.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt.getAttribute("data-polling") !== "true" || event.detail.requestConfig.verb !== "get") return;
    var active = document.activeElement;
    var choosing = elt.querySelector('input[name="document_ids"]:checked, input[data-select-all]:checked');
    if (choosing || (active && active !== document.body && elt.contains(active) && active.matches('input:not([type="checkbox"]):not([type="radio"]), select'))) {
      event.preventDefault();
    }
  });

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
