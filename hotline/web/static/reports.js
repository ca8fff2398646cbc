// Report charts: ECharts (vendored, never a CDN) drawn from the JSON the page embeds
// (<script type="application/json" id="report-charts">). Every chart's figures are also in the
// table below it, so the page is complete without this script.
(function () {
  "use strict";
  var PALETTE = ["#0b4f8a", "#d68910", "#1e8449", "#c0392b", "#6c3483", "#117a65"];

  function option(spec) {
    var base = {
      color: PALETTE,
      animation: false,
      textStyle: { fontFamily: "Microsoft YaHei, PingFang SC, WenQuanYi Micro Hei, sans-serif" },
      tooltip: { trigger: spec.type === "pie" ? "item" : "axis" },
      legend: { top: 0, type: "scroll" },
    };
    if (spec.type === "pie") {
      var s = spec.series[0];
      base.series = [{
        name: s.name, type: "pie", radius: ["35%", "65%"], top: 24,
        data: spec.x.map(function (name, i) { return { name: name, value: s.data[i] }; }),
        label: { formatter: "{b}：{c}（{d}%）" },
      }];
      return base;
    }
    base.grid = { left: 48, right: 16, top: 36, bottom: 28, containLabel: true };
    base.xAxis = { type: "category", data: spec.x, axisLabel: { interval: spec.x.length > 12 ? "auto" : 0 } };
    base.yAxis = { type: "value", minInterval: spec.percent ? undefined : 1,
                   axisLabel: spec.percent ? { formatter: "{value}%" } : {}, max: spec.percent ? 100 : undefined };
    base.series = spec.series.map(function (s) {
      return { name: s.name, type: spec.type || "bar", data: s.data, barMaxWidth: 28 };
    });
    return base;
  }

  function draw() {
    var data = document.getElementById("report-charts");
    if (!data) { return; }
    var specs;
    try { specs = JSON.parse(data.textContent || "[]"); } catch (err) { return; }
    var charts = [];
    specs.forEach(function (spec) {
      var el = document.getElementById(spec.id);
      if (!el) { return; }
      if (!window.echarts) {
        el.textContent = "图表库未安装（数据见下方表格）";
        el.classList.add("no-chart");
        return;
      }
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option(spec));
      charts.push(chart);
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
