// The desk's few helpers; every page works without them. No framework: htmx does the fragments.
(function () {
  "use strict";
  var fa = function (s) { return String(s).replace(/[0-9]/g, function (d) { return "۰۱۲۳۴۵۶۷۸۹"[d]; }); };
  function tick(el) {
    var started = Date.parse(el.getAttribute("data-started"));
    if (isNaN(started)) { return; }
    var s = Math.max(0, Math.floor((Date.now() - started) / 1000));
    var mm = String(Math.floor(s / 60)).padStart(2, "0"), ss = String(s % 60).padStart(2, "0");
    el.textContent = fa(mm + ":" + ss);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var timer = document.querySelector("[data-call-timer]");
    if (timer) { tick(timer); setInterval(function () { tick(timer); }, 1000); }
    var summary = document.querySelector("[data-error-summary]");
    if (summary) { summary.focus(); }
    var done = document.querySelector("[data-focus-on-load]");
    if (done && !summary) { done.focus(); }
    var form = document.querySelector("[data-desk-form]");
    if (form) {
      form.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          form.requestSubmit(form.querySelector(".default-action"));
        }
      });
    }
    document.addEventListener("keydown", function (e) {
      if (e.altKey && e.shiftKey && (e.key === "F" || e.key === "f")) { window.location.href = "/desk/find"; }
    });
  });
})();
