// Case pages: category search over /api/categories, opening the action named in the URL
// (#act-feedback), filling a merge proposal, and live notices of changed tickets.
// Every page works without it; it only saves typing and reloads.
(function () {
  "use strict";

  // -- category search: inputs with data-category-search fill <datalist id="category-options"> --
  var timer = null;
  function searchCategories(input) {
    var text = input.value.trim();
    var list = document.getElementById(input.getAttribute("list"));
    if (!list || !text) { return; }
    fetch("/api/categories?q=" + encodeURIComponent(text), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (items) {
        list.textContent = "";
        items.slice(0, 30).forEach(function (c) {
          var option = document.createElement("option");
          option.value = c.code;
          option.label = c.code + " " + c.name + "（" + c.kind_label + "）";
          option.textContent = option.label;
          list.appendChild(option);
        });
        var exact = items.filter(function (c) { return c.code === text; });
        var shown = input.parentNode.querySelector("[data-category-name]");
        if (shown) {
          shown.textContent = exact.length ? exact.map(function (c) { return c.name + "（" + c.kind_label + "）"; }).join("、") : "";
        }
      })
      .catch(function () { /* offline or logged out: the field still takes a typed code */ });
  }
  document.addEventListener("input", function (e) {
    var input = e.target;
    if (!input.matches || !input.matches("[data-category-search]")) { return; }
    clearTimeout(timer);
    timer = setTimeout(function () { searchCategories(input); }, 250);
  });

  // -- #act-<action> opens that action's form and focuses its first field --------------------
  function openFromHash() {
    if (!location.hash || location.hash.indexOf("#act-") !== 0) { return; }
    var details = document.getElementById(location.hash.slice(1));
    if (!details || details.tagName !== "DETAILS") { return; }
    details.open = true;
    var first = details.querySelector("textarea, input:not([type=hidden]), select");
    if (first) { first.focus(); }
    details.scrollIntoView({ block: "start" });
  }
  window.addEventListener("hashchange", openFromHash);

  // -- a merge proposal fills the parent number -------------------------------------------------
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("[data-fill-parent]") : null;
    if (!button) { return; }
    var input = button.closest("form").querySelector("input[name=parent]");
    if (input) { input.value = button.dataset.fillParent; input.focus(); }
  });

  // -- live: a changed ticket on its page, or new work on a list ----------------------------------
  document.addEventListener("hotline:ticket", function (e) {
    var data = e.detail || {};
    var page = document.querySelector(".ticket-page");
    if (page) {
      if (data.number === page.dataset.ticket && String(data.version) !== page.dataset.version) {
        var note = page.querySelector(".live-note");
        if (note) {
          note.textContent = "此工单已" + (data.action_label || "更新") + "（" + (data.state_label || "") + "），请刷新页面";
          note.hidden = false;
        }
      }
      return;
    }
    var banner = document.querySelector(".live-banner");
    if (banner && data.number) {
      banner.querySelector("span").textContent = "工单 " + data.number + " 已" + (data.action_label || "更新") + "，列表可能已变化。";
      banner.hidden = false;
    }
  });

  document.addEventListener("DOMContentLoaded", openFromHash);
})();
