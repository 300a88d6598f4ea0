// django-import-export's export page without its inline handler (the Content-Security-Policy forbids inline
// script): the "Select all" box ticks or unticks every field, as its onchange attribute did.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var toggle = event.target;
    if (!toggle.matches || !toggle.matches("input.select-toggle")) { return; }
    document.querySelectorAll('.selectable-field-export-row input[type="checkbox"]').forEach(function (box) {
      box.checked = toggle.checked;
    });
  });
})();
