// The import page while its import runs: reload the progress section (and the breadcrumbs,
// whose last step says whether it still runs) every two seconds until the import is no longer
// running. Without JavaScript the page has a Refresh link.
(function () {
  "use strict";
  function poll() {
    var section = document.querySelector("[data-import-progress][data-running]");
    if (!section) {
      return;
    }
    window.setTimeout(function () {
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) {
            return;
          }
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var card = fresh.querySelector("main .card");
          var here = document.querySelector("main .card");
          if (card && here) {
            here.replaceWith(card);
          }
          var trail = fresh.querySelector("nav.crumbs");  // "Progress" becomes "Result"
          var shown = document.querySelector("nav.crumbs");
          if (trail && shown) {
            shown.replaceWith(trail);
          }
          poll();
        })
        .catch(function () { poll(); });
    }, 2000);
  }
  document.addEventListener("DOMContentLoaded", poll);
})();
