/* The workflow builder, improved when JavaScript runs (the form works without it).
 *
 * - Code editors (textarea[data-lines]) get a line-number gutter; the lines a compile error
 *   names (data-error-lines="2,5") are marked in it.
 * - Inputs that go with triggers not chosen (data-show-on) or with other action types
 *   (data-for) are hidden and disabled, so they are neither seen nor posted.
 * Loaded from 'self', as the page's Content-Security-Policy requires.
 */
(function () {
  "use strict";

  function gutter(area) {
    var side = document.createElement("div");
    var bad = (area.dataset.errorLines || "").split(",").filter(Boolean);
    side.className = "gutter";
    side.setAttribute("aria-hidden", "true");
    area.setAttribute("wrap", "off");
    area.insertAdjacentElement("beforebegin", side);
    area.parentElement.classList.add("numbered");

    function draw() {
      var count = area.value.split("\n").length;
      var rows = [];
      for (var n = 1; n <= Math.max(count, area.rows); n += 1) {
        var row = document.createElement("span");
        row.textContent = String(n);
        if (bad.indexOf(String(n)) >= 0) {
          row.className = "bad";
        }
        rows.push(row);
      }
      side.replaceChildren.apply(side, rows);
      side.scrollTop = area.scrollTop;
    }

    area.addEventListener("input", draw);
    area.addEventListener("scroll", function () { side.scrollTop = area.scrollTop; });
    draw();
  }

  function show(box, visible) {
    box.hidden = !visible;
    box.querySelectorAll("input, select, textarea").forEach(function (input) {
      input.disabled = !visible;
    });
  }

  function triggers(form) {
    var boxes = form.querySelectorAll("[data-show-on]");
    function update() {
      var chosen = [];
      form.querySelectorAll("input[data-trigger]:checked").forEach(function (input) {
        chosen.push(input.value);
      });
      boxes.forEach(function (box) {
        var wants = box.dataset.showOn.split(" ");
        show(box, wants.some(function (t) { return chosen.indexOf(t) >= 0; }));
      });
    }
    form.querySelectorAll("input[data-trigger]").forEach(function (input) {
      input.addEventListener("change", update);
    });
    update();
  }

  function action(block) {
    var select = block.querySelector("select[data-action-type]");
    function update() {
      block.querySelectorAll("[data-for]").forEach(function (box) {
        show(box, box.dataset.for.split(" ").indexOf(select.value) >= 0);
      });
    }
    select.addEventListener("change", update);
    update();
  }

  document.querySelectorAll("textarea[data-lines]").forEach(gutter);
  document.querySelectorAll("form.workflow").forEach(triggers);
  document.querySelectorAll("fieldset[data-action]").forEach(action);
})();
