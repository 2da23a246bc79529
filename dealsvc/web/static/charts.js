// Charts drawn from the tables beside them: a <canvas data-chart-from="TABLE_ID"> becomes a Chart.js
// chart of that table's rows (the row's heading is the label, each td's data-value a number), for
// the columns named in data-chart-columns (their th's data-key), or every column with a data-key.
// The table stays the accessible form of the same numbers; the words come from the page (its
// catalogues), the numbers are written in the page's language by Intl.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") return;
  var lang = document.documentElement.lang || "en";
  var colours = ["#2f6f4f", "#d08c2e", "#b3413a", "#3f67a8", "#7a5aa6"];

  function read(table, wanted) {
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var columns = [];
    heads.forEach(function (th, i) {
      var key = th.dataset.key;
      if (key && (!wanted || wanted.indexOf(key) >= 0)) columns.push({ index: i, key: key, name: th.textContent.trim() });
    });
    if (wanted) columns.sort(function (a, b) { return wanted.indexOf(a.key) - wanted.indexOf(b.key); });
    var labels = [];
    var values = columns.map(function () { return []; });
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var cells = row.cells;
      if (cells.length < heads.length) return; // the "nothing yet" row
      labels.push(cells[0].textContent.trim());
      columns.forEach(function (column, n) {
        values[n].push(Number(cells[column.index].dataset.value || 0));
      });
    });
    return { labels: labels, datasets: columns.map(function (column, n) {
      return { label: column.name, data: values[n], backgroundColor: colours[n % colours.length],
               borderColor: colours[n % colours.length], tension: 0.2, pointRadius: 2 };
    }) };
  }

  Array.prototype.forEach.call(document.querySelectorAll("canvas[data-chart-from]"), function (canvas) {
    var table = document.getElementById(canvas.dataset.chartFrom);
    if (!table) return;
    var wanted = canvas.dataset.chartColumns ? canvas.dataset.chartColumns.split(/\s+/) : null;
    var data = read(table, wanted);
    if (!data.labels.length) return;
    canvas.chart = new window.Chart(canvas, {
      type: canvas.dataset.chartType || "bar",
      data: data,
      options: {
        locale: lang,
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { position: "bottom" } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
    canvas.dataset.drawn = "true";
  });
})();
