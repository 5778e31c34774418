/* Reference pickers, improved when JavaScript runs (the form works without it).
 *
 * A reference to a type with too many records for a list is a text box where the record's
 * name is typed. This script offers matching names as the user types, read from the
 * referenced type's own list page (/admin/records/<type>?q=...): no second endpoint, and
 * only the records the user may read there. Loaded from 'self', as the page's
 * Content-Security-Policy requires.
 */
(function () {
  "use strict";
  var WAIT_MS = 200;

  function picker(input) {
    var list = document.createElement("datalist");
    var timer = null;
    var asked = null;
    list.id = input.id + "-choices";
    input.setAttribute("list", list.id);
    input.setAttribute("autocomplete", "off");
    input.insertAdjacentElement("afterend", list);

    function fill(html) {
      var page = new DOMParser().parseFromString(html, "text/html");
      var names = [];
      page.querySelectorAll("tr[data-record] th a").forEach(function (link) {
        var name = link.textContent.trim();
        if (names.indexOf(name) < 0) {
          names.push(name);
        }
      });
      list.replaceChildren.apply(list, names.map(function (name) {
        var option = document.createElement("option");
        option.value = name;
        return option;
      }));
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var text = input.value.trim();
        if (!text || text === asked) {
          return;
        }
        asked = text;
        fetch(input.dataset.picker + "?q=" + encodeURIComponent(text), {
          credentials: "same-origin"
        })
          .then(function (answer) { return answer.ok ? answer.text() : ""; })
          .then(function (html) { if (input.value.trim() === text) { fill(html); } })
          .catch(function () { /* no suggestions: typing the name still works */ });
      }, WAIT_MS);
    });
  }

  document.querySelectorAll("input[data-picker]").forEach(picker);
})();
