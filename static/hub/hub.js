// Behaviour shared by every page of the hub. No inline script anywhere: the Content-Security-Policy forbids it.
(function () {
  "use strict";
  // <select data-autosubmit>: choosing an option submits its form (tenant switcher, the wizard's tool picker).
  function autosubmit(event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) {
      select.form.submit();
    }
  }
  document.addEventListener("change", autosubmit);
})();
