// The dashboard's charts, drawn with Chart.js from the JSON block beside each canvas (the same numbers
// as the table next to it, which is what screen readers read). Right to left: categories start at the
// right, values grow leftwards, the value axis sits on the right; Persian digits and labels.
(function () {
  "use strict";
  var PALETTE = ["#1d70b8", "#00703c", "#d4351c", "#4c2c92"];
  var fa = function (n) { return Number(n).toLocaleString("fa-IR"); };

  function config(spec) {
    var horizontal = !!spec.horizontal;
    var values = { beginAtZero: true, ticks: { precision: 0, callback: function (v) { return fa(v); } } };
    var categories = { ticks: { autoSkip: false } };
    var scales = horizontal
      ? { x: Object.assign({ reverse: true }, values), y: Object.assign({ position: "right" }, categories) }
      : { x: Object.assign({ reverse: true }, categories), y: Object.assign({ position: "right" }, values) };
    return {
      type: spec.type,
      data: {
        labels: spec.labels,
        datasets: spec.series.map(function (s, i) {
          var colour = PALETTE[i % PALETTE.length];
          return {
            label: s.label, data: s.data, backgroundColor: colour, borderColor: colour,
            borderWidth: spec.type === "line" ? 3 : 0, pointRadius: 4, tension: 0.2, fill: false,
          };
        }),
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        locale: "fa-IR",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: scales,
        plugins: {
          legend: { display: spec.series.length > 1, rtl: true, textDirection: "rtl", position: "top", align: "start" },
          tooltip: {
            rtl: true, textDirection: "rtl",
            callbacks: { label: function (item) { return item.dataset.label + ": " + fa(item.raw); } },
          },
        },
      },
    };
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) { return; }
    new window.Chart(canvas, config(JSON.parse(source.textContent)));
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof window.Chart === "undefined") { return; }  // the tables beside the charts say it all
    window.Chart.defaults.font.family = "Vazirmatn, Tahoma, sans-serif";
    window.Chart.defaults.font.size = 14;
    window.Chart.defaults.color = "#0b0c0c";
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  });
})();
