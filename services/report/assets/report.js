// The report page's own script: turns the chart specs in #gantry-report-data into Chart.js line
// charts. Runs from a file:// page with no network; Chart.js is inlined before this script.
(function () {
  'use strict';
  var PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
  var data = JSON.parse(document.getElementById('gantry-report-data').textContent);

  function dataset(series, i) {
    var color = PALETTE[i % PALETTE.length];
    return {
      label: series.label,
      data: series.points.map(function (p) { return { x: p[0], y: p[1] }; }),
      borderColor: color,
      backgroundColor: color,
      borderWidth: 1.5,
      pointRadius: series.points.length > 60 ? 0 : 2.5,
      tension: 0,
    };
  }

  function axis(title) {
    return { type: 'linear', title: { display: true, text: title } };
  }

  window.gantryCharts = data.charts.map(function (spec) {
    var canvas = document.getElementById('chart-' + spec.id);
    return new Chart(canvas, {
      type: 'line',
      data: { datasets: spec.series.map(dataset) },
      options: {
        animation: false,
        parsing: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: { x: axis(spec.xLabel), y: axis(spec.yLabel) },
        plugins: { legend: { position: 'bottom' } },
      },
    });
  });
})();
