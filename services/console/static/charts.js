// The dashboard's charts, drawn with Chart.js from the JSON block beside each canvas (the same numbers
// as the table next to it, which is what screen readers read). Right to left: categories start at the
// right, values grow leftwards, the value axis sits on the right; Persian digits and labels.
(function () {
  "use strict";
  var PALETTE = ["#1d70b8", "#00703c", "#d4351c", "#4c2c92"];
  var fa = function (n) { return Number(n).toLocaleString("fa-IR"); };
  // On a narrow screen a long category name becomes lines of a few words, so it is not cut off.
  function wrap(label, width) {
    var lines = [], line = "";
    String(label).split(" ").forEach(function (word) {
      if (line && (line + " " + word).length > width) { lines.push(line); line = word; }
      else { line = line ? line + " " + word : word; }
    });
    if (line) { lines.push(line); }
    return lines.length > 1 ? lines : label;
  }

  function config(spec, narrow) {
    var horizontal = !!spec.horizontal;
    var values = { beginAtZero: true, ticks: { precision: 0, callback: function (v) { return fa(v); } } };
    var categories = { ticks: { autoSkip: false } };
    var scales = horizontal
      ? { x: Object.assign({ reverse: true }, values), y: Object.assign({ position: "right" }, categories) }
      : { x: Object.assign({ reverse: true }, categories), y: Object.assign({ position: "right" }, values) };
    return {
      type: spec.type,
      data: {
        labels: horizontal && narrow ? spec.labels.map(function (l) { return wrap(l, 12); }) : spec.labels,
        datasets: spec.series.map(function (s, i) {
          var colour = PALETTE[i % PALETTE.length];
          return {
            label: s.label, data: s.data, backgroundColor: colour, borderColor: colour,
            borderWidth: spec.type === "line" ? 3 : 0, pointRadius: 4, tension: 0, fill: false,
          };
        }),
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        locale: "fa-IR",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        layout: { padding: { left: 24, right: 8, top: 4 } },
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
    var spec = JSON.parse(source.textContent);
    var narrow = canvas.parentElement.clientWidth < 640;
    if (spec.horizontal && spec.series.length > 1) {
      // Room for every bar of every row: grouped bars stay readable however many agencies there are.
      var perRow = Math.max(narrow ? 48 : 30, spec.series.length * 10);
      canvas.parentElement.style.blockSize = Math.max(288, spec.labels.length * perRow + 96) + "px";
    }
    new window.Chart(canvas, config(spec, narrow));
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof window.Chart === "undefined") { return; }  // the tables beside the charts say it all
    window.Chart.defaults.font.family = "Vazirmatn, Tahoma, sans-serif";
    window.Chart.defaults.font.size = 14;
    window.Chart.defaults.color = "#0b0c0c";
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  });
})();
