// The inbox's live list and its small helpers; every action also works as a plain form post.
// Rows arrive over server-sent events already rendered (only the signed-in person's agency's cases):
// a row on the page is replaced, a new case goes to the top of the default view, and any other view
// says that new cases arrived. A dropped connection reconnects and reloads the list to catch up.
(function () {
  "use strict";
  var fa = function (s) { return String(s).replace(/[0-9]/g, function (d) { return "۰۱۲۳۴۵۶۷۸۹"[d]; }); };

  function matches(row, params) {
    var want = {status: params.get("status"), county: params.get("county"), overdue: params.get("overdue")};
    return Object.keys(want).every(function (k) { return !want[k] || row.getAttribute("data-" + k) === want[k]; });
  }

  function live(section) {
    var tbody = section.querySelector("#inbox-rows");
    var news = document.getElementById("inbox-news");
    var params = new URLSearchParams(window.location.search);
    var plain = section.getAttribute("data-plain") === "yes";
    var wasDown = false;
    var source = new EventSource(section.getAttribute("data-live"));

    function say(text) { if (news) { news.textContent = text; } }

    function count(by) {
      var total = section.querySelector("[data-total]");
      if (!total) { return; }
      var n = Math.max(0, parseInt(total.getAttribute("data-total"), 10) + by);
      total.setAttribute("data-total", String(n));
      total.textContent = fa(n) + " " + total.getAttribute("data-unit");
    }

    function refresh() {
      if (window.htmx) {
        window.htmx.ajax("GET", section.getAttribute("data-refresh"), {target: section, swap: "innerHTML"});
      }
    }

    source.addEventListener("open", function () {
      if (wasDown) { wasDown = false; refresh(); }  // catch up on what happened while away
    });
    source.addEventListener("error", function () { wasDown = true; });

    source.addEventListener("row", function (e) {
      var msg = JSON.parse(e.data);
      tbody = section.querySelector("#inbox-rows");
      if (!tbody || !msg.html) { return; }
      var holder = document.createElement("tbody");
      holder.innerHTML = msg.html.trim();
      var row = holder.firstElementChild;
      if (!row) { return; }
      row.classList.add("inbox-row--fresh");
      var present = document.getElementById("case-" + msg.case_id);
      if (present) {
        present.replaceWith(row);
      } else if (plain || matches(row, params)) {
        if (!plain && params.get("sort") === "urgent") {
          say("پرونده‌های تازه‌ای رسیده است؛ برای دیدن آن‌ها در جای خود، فهرست را دوباره نمایش دهید.");
          return;
        }
        if (section.getAttribute("data-insert") === "end") {
          tbody.appendChild(row);  // a list with the oldest first: the newcomer goes last
        } else {
          tbody.insertBefore(row, tbody.firstElementChild);
        }
        count(1);
        var empty = section.querySelector("[data-inbox-empty]");
        if (empty) { empty.remove(); }
        var title = row.querySelector("td");
        say((section.getAttribute("data-news") || "") + (title ? title.firstChild.textContent.trim() : ""));
      } else {
        say("پرونده‌های تازه‌ای رسیده است که در این پالایه نیست.");
      }
    });

    source.addEventListener("gone", function (e) {
      var msg = JSON.parse(e.data);
      var present = document.getElementById("case-" + msg.case_id);
      if (present) { present.remove(); count(-1); say("پرونده‌ای از این فهرست بیرون رفت."); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-live]");
    if (section && window.EventSource) { live(section); }
  });

  // A ready answer fills the answer box (still editable) and refreshes the SMS preview.
  document.addEventListener("change", function (e) {
    var select = e.target;
    if (!select.matches || !select.matches("[data-ready-for]") || !select.value) { return; }
    var box = document.getElementById(select.getAttribute("data-ready-for"));
    if (!box) { return; }
    box.value = select.value;
    box.focus();
    box.dispatchEvent(new Event("input", {bubbles: true}));
  });

  // After an action the confirmation takes the focus, so a screen reader says what happened.
  document.addEventListener("htmx:afterSwap", function (e) {
    var path = ((e.detail && e.detail.pathInfo) || {}).requestPath || "";
    if (!/\/act$/.test(path)) { return; }  // not a preview or a live refresh: leave the focus alone
    var done = document.querySelector("#case-panel [data-focus-on-load]");
    var errors = document.querySelector("#case-panel [data-error-summary]");
    (errors || done || {focus: function () {}}).focus();
  });
})();
