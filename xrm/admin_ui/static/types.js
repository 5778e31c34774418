/* The type designer, improved when JavaScript runs (the form works without it).
 *
 * Each field row shows only the options of its kind. Without JavaScript the page does this
 * when it is drawn, and the "Show the options of the chosen kinds" button draws it again after
 * a kind is changed; with it, the options follow the kind list at once and that button is
 * not needed. Loaded from 'self', as the page's Content-Security-Policy requires.
 */
(function () {
  "use strict";

  function follow(select) {
    var row = select.closest("fieldset");
    if (!row) {
      return;
    }
    row.querySelectorAll("[data-kinds]").forEach(function (option) {
      var kinds = option.getAttribute("data-kinds").split(" ");
      option.hidden = kinds.indexOf(select.value) < 0;
    });
  }

  function start() {
    document.querySelectorAll("select[data-kind]").forEach(function (select) {
      select.addEventListener("change", function () {
        follow(select);
      });
    });
    document.querySelectorAll("[data-refresh]").forEach(function (button) {
      button.hidden = true;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
