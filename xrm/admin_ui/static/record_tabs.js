/* A record's related records as real tabs, when JavaScript runs.
 *
 * Without it the page lists every related section one after another, with a list of links to
 * them at the top; that works and stays. With it, the list becomes a tablist (WAI-ARIA
 * "Tabs" pattern): one panel shows at a time, arrows, Home and End move between tabs, and the
 * address's #rel-<field> (kept by a tab's "More" link) chooses the tab that opens.
 * Loaded from 'self', as the page's Content-Security-Policy requires.
 */
(function () {
  "use strict";

  function setUp(box) {
    var list = box.querySelector("[data-tablist]");
    var tabs = Array.prototype.slice.call(list.querySelectorAll("a[data-tab]"));
    if (!tabs.length) {
      return;
    }
    list.setAttribute("role", "tablist");
    list.querySelectorAll("li").forEach(function (item) { item.setAttribute("role", "presentation"); });

    function panelOf(tab) {
      return document.getElementById("rel-" + tab.dataset.tab);
    }

    function choose(chosen, focus) {
      tabs.forEach(function (tab) {
        var on = tab === chosen;
        tab.setAttribute("aria-selected", on ? "true" : "false");
        tab.setAttribute("tabindex", on ? "0" : "-1");
        panelOf(tab).hidden = !on;
      });
      if (focus) {
        chosen.focus();
      }
    }

    tabs.forEach(function (tab, index) {
      var panel = panelOf(tab);
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-controls", panel.id);
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", tab.id);
      panel.querySelector("h3").classList.add("visually-hidden");
      tab.addEventListener("click", function (event) {
        event.preventDefault();
        choose(tab, false);
        history.replaceState(null, "", "#" + panel.id);
      });
      tab.addEventListener("keydown", function (event) {
        var next = {
          ArrowRight: index + 1,
          ArrowLeft: index - 1,
          Home: 0,
          End: tabs.length - 1
        }[event.key];
        if (next === undefined) {
          return;
        }
        event.preventDefault();
        choose(tabs[(next + tabs.length) % tabs.length], true);
      });
    });
    var wanted = tabs.filter(function (tab) { return "#rel-" + tab.dataset.tab === location.hash; });
    choose(wanted[0] || tabs[0], false);
  }

  document.querySelectorAll("[data-tabs]").forEach(setUp);
})();
