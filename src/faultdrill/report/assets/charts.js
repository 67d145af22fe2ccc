/* faultdrill interactive charts: draws the report's chart model (JSON in #faultdrill-charts) with uPlot.
 * Every chart on the page shares one run-time axis: the cursor and the zoom of one are the cursor and the
 * zoom of all. Drag across a chart to zoom, mouse wheel to zoom around the cursor, shift + drag to pan,
 * double-click (or "reset zoom") to see the whole run again. Click a legend entry to hide/show a series.
 * A null value is a gap (nothing was known there): the line breaks; it is never drawn as zero.
 */
(function () {
  "use strict";
  var SYNC_KEY = "faultdrill";
  var DASH = { solid: [], dashed: [6, 4], dotted: [2, 3] };
  var plots = [];
  var syncing = false;
  var fullRange = [0, 1];

  function fmt(v, unit) {
    if (v == null) return "–";
    if (unit === "ms") {
      if (v >= 1000) return (v / 1000).toPrecision(4).replace(/\.?0+$/, "") + " s";
      return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + " ms";
    }
    var a = Math.abs(v);
    var s = a >= 1000 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
    return s.replace(/\.0+$/, "") + (unit && unit.indexOf("%") === 0 ? " %" : "");
  }

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16 & 255) + "," + (n >> 8 & 255) + "," + (n & 255) + "," + a + ")";
  }

  // the nearest index with a value for this series (alignment fillers are undefined; a gap is null)
  function nearestIdx(u, si, idx) {
    var ys = u.data[si], xs = u.data[0];
    if (ys[idx] !== undefined) return idx;
    var lo = idx - 1, hi = idx + 1, x = xs[idx];
    while (lo >= 0 || hi < ys.length) {
      var l = lo >= 0 && ys[lo] !== undefined, h = hi < ys.length && ys[hi] !== undefined;
      if (l && h) return (x - xs[lo] <= xs[hi] - x) ? lo : hi;
      if (l) return lo;
      if (h) return hi;
      lo--; hi++;
    }
    return idx;
  }

  function overlayPlugin(figure, chart, number) {
    function x(u, v) { return u.valToPos(v, "x", true); }
    return {
      hooks: {
        drawClear: [function (u) {
          var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
          ctx.save();
          figure.bands.forEach(function (b) {
            var x0 = Math.max(x(u, b.start), u.bbox.left), x1 = Math.min(x(u, b.end), u.bbox.left + u.bbox.width);
            if (x1 > x0) { ctx.fillStyle = alpha(b.colour, 0.10); ctx.fillRect(x0, top, x1 - x0, h); }
          });
          chart.guides.forEach(function (g) {
            var scale = g.axis === "right" ? "y2" : "y";
            if (g.to != null) {
              var y0 = u.valToPos(g.value, scale, true), y1 = u.valToPos(g.to, scale, true);
              ctx.fillStyle = alpha(g.colour, 0.10);
              ctx.fillRect(u.bbox.left, Math.min(y0, y1), u.bbox.width, Math.abs(y1 - y0));
            }
          });
          ctx.restore();
        }],
        draw: [function (u) {
          var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height, dpr = uPlot.pxRatio;
          ctx.save();
          ctx.beginPath(); ctx.rect(u.bbox.left, top, u.bbox.width, h); ctx.clip();  // nothing spills out of the plot
          chart.guides.forEach(function (g) {
            if (g.to != null) return;
            var y = u.valToPos(g.value, g.axis === "right" ? "y2" : "y", true);
            if (y < top || y > top + h) return;
            ctx.strokeStyle = g.colour; ctx.lineWidth = dpr; ctx.setLineDash([6 * dpr, 4 * dpr]);
            ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
          });
          ctx.font = (10 * dpr) + "px sans-serif";
          figure.bands.forEach(function (b, i) {  // names staggered in three rows: close faults stay readable
            var x0 = Math.max(x(u, b.start), u.bbox.left);
            if (number && x0 < u.bbox.left + u.bbox.width) {
              ctx.fillStyle = b.colour; ctx.fillText(b.label, x0 + 3 * dpr, top + (11 + 11 * (i % 3)) * dpr);
            }
          });
          var badges = [];
          figure.markers.forEach(function (m, i) {
            var xm = x(u, m.t);
            if (xm < u.bbox.left || xm > u.bbox.left + u.bbox.width) return;
            ctx.strokeStyle = m.colour; ctx.lineWidth = 1.3 * dpr;
            ctx.setLineDash(m.kind === "recover" ? [6 * dpr, 2 * dpr, 2 * dpr, 2 * dpr] :
              m.kind === "annotation" ? [2 * dpr, 3 * dpr] : m.kind === "abort" ? [] : [5 * dpr, 3 * dpr]);
            ctx.beginPath(); ctx.moveTo(xm, top); ctx.lineTo(xm, top + h); ctx.stroke();
            var last = badges[badges.length - 1];
            if (last && xm - last.x < 16 * dpr) last.more = true;  // close markers share one badge: "4+"
            else badges.push({ x: xm, n: i + 1, colour: m.colour, more: false });
          });
          if (number) badges.forEach(function (b) {
            var text = String(b.n) + (b.more ? "+" : ""), w = Math.max(14, 7 * text.length + 4) * dpr;
            ctx.setLineDash([]); ctx.fillStyle = b.colour;
            ctx.fillRect(b.x - w / 2, top + 40 * dpr, w, 14 * dpr);
            ctx.fillStyle = "#fff"; ctx.textAlign = "center";
            ctx.fillText(text, b.x, top + 51 * dpr); ctx.textAlign = "left";
          });
          ctx.restore();
        }]
      }
    };
  }

  function syncZoom(source, min, max) {
    if (syncing) return;
    syncing = true;
    try {
      plots.forEach(function (u) {
        if (u !== source) u.setScale("x", { min: min, max: max });
      });
    } finally { syncing = false; }
  }

  function panZoomPlugin() {
    return {
      hooks: {
        ready: [function (u) {
          var over = u.over;
          over.addEventListener("wheel", function (e) {
            e.preventDefault();
            var sc = u.scales.x, rect = over.getBoundingClientRect();
            var at = u.posToVal(e.clientX - rect.left, "x");
            var f = e.deltaY < 0 ? 0.8 : 1.25;
            var min = at - (at - sc.min) * f, max = at + (sc.max - at) * f;
            if (max - min >= fullRange[1] - fullRange[0]) { min = fullRange[0]; max = fullRange[1]; }
            u.setScale("x", { min: Math.max(fullRange[0], min), max: Math.min(fullRange[1], max) });
          }, { passive: false });
          over.addEventListener("mousedown", function (e) {
            if (!e.shiftKey) return;
            e.stopPropagation(); e.preventDefault();
            var x0 = e.clientX, sc0 = { min: u.scales.x.min, max: u.scales.x.max };
            var perPx = (sc0.max - sc0.min) / u.bbox.width * uPlot.pxRatio;
            function move(ev) {
              var dx = (ev.clientX - x0) * perPx, span = sc0.max - sc0.min;
              var min = Math.min(Math.max(fullRange[0], sc0.min - dx), fullRange[1] - span);
              u.setScale("x", { min: min, max: min + span });
            }
            function up() { document.removeEventListener("mousemove", move); document.removeEventListener("mouseup", up); }
            document.addEventListener("mousemove", move);
            document.addEventListener("mouseup", up);
          }, true);
        }],
        setScale: [function (u, key) {
          if (key === "x") syncZoom(u, u.scales.x.min, u.scales.x.max);
        }]
      }
    };
  }

  function chartData(chart) {
    var tables = chart.lines.map(function (l) { return [l.xs, l.ys]; });
    // NULL_EXPAND (2): a gap spans every alignment filler around it, so no line is drawn across missing
    // data (uPlot clips gaps; without this a gap would only be as wide as the next series' tick)
    return tables.length ? uPlot.join(tables, tables.map(function () { return [0, 2]; })) : [[0], []];
  }

  function build(el, figure, chart, first, width) {
    var data = chartData(chart);
    var right = chart.lines.some(function (l) { return l.axis === "right"; });
    var series = [{ label: "t", value: function (u, v) { return v == null ? "–" : v.toFixed(1) + " s"; } }];
    chart.lines.forEach(function (l) {
      var unit = l.axis === "right" ? chart.right_unit : chart.unit;
      var s = {
        label: l.label, stroke: l.colour, width: l.width, dash: DASH[l.style] || [],
        scale: l.axis === "right" ? "y2" : "y", spanGaps: false, points: { show: false },
        value: function (u, v) { return fmt(v, unit); }
      };
      if (l.bars) {
        s.paths = uPlot.paths.bars({ size: [0.9, 60], align: 0 });
        s.fill = alpha(l.colour, 0.45); s.width = 0;
      }
      series.push(s);
    });
    var yScale = chart.log ? { distr: 3, log: 10 } : { range: function (u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; } };
    if (chart.guides.length && !chart.log) {
      var top = Math.max.apply(null, chart.guides.map(function (g) { return g.to != null ? g.to : g.value; }));
      yScale = { range: function (u, min, max) { return [0, Math.max(max, top) * 1.08]; } };
    }
    var axes = [
      { label: "run time (s)", size: 40, labelSize: 16 },
      { label: chart.unit + (chart.log ? " (log)" : ""), labelSize: 16, size: 60,
        values: function (u, vals) { return vals.map(function (v) { return v == null ? "" : fmt(v, chart.unit); }); } }
    ];
    if (chart.log) axes[1].splits = function (u, ai, min, max) {  // 1, 2, 5 × 10^n: a readable log axis
      var out = [];
      for (var e = Math.floor(Math.log10(Math.max(min, 1e-6))); Math.pow(10, e) <= max; e++)
        [1, 2, 5].forEach(function (k) { var v = k * Math.pow(10, e); if (v >= min && v <= max) out.push(v); });
      return out;
    };
    // every chart keeps room for a right axis, so all their time axes line up on the page
    axes.push(right ? { scale: "y2", side: 1, label: chart.right_unit, labelSize: 16, size: 55, grid: { show: false } }
                    : { scale: "y", side: 1, size: 71, values: function () { return []; }, grid: { show: false }, ticks: { show: false } });
    var scales = { x: { time: false, min: 0, max: figure.duration }, y: yScale };
    if (right) scales.y2 = { range: function (u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; } };
    var opts = {
      width: width, height: Math.round(190 * (chart.height || 1)),
      scales: scales, series: series, axes: axes,
      cursor: { y: false, sync: { key: SYNC_KEY, setSeries: false }, drag: { x: true, y: false, setScale: true },
                dataIdx: function (u, si, idx) { return nearestIdx(u, si, idx); } },
      legend: { live: true },
      plugins: [overlayPlugin(figure, chart, first), panZoomPlugin()]
    };
    var u = new uPlot(opts, data, el);
    u.faultdrill = { key: chart.key, figure: figure.key };
    plots.push(u);
    return u;
  }

  function render() {
    var node = document.getElementById("faultdrill-charts");
    if (!node || typeof uPlot === "undefined") return;
    var payload = JSON.parse(node.textContent);
    var byKey = {};
    payload.figures.forEach(function (f) { byKey[f.key] = f; fullRange[1] = Math.max(fullRange[1], f.duration); });
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var figure = byKey[el.getAttribute("data-figure")];
      if (!figure) return;
      var chart = figure.charts.filter(function (c) { return c.key === el.getAttribute("data-chart"); })[0];
      if (!chart) { el.parentNode.removeChild(el); return; }
      var head = document.createElement("div");
      head.className = "fd-chart-title";
      head.textContent = chart.title + (chart.note ? " — " + chart.note : "");
      el.appendChild(head);
      var holder = document.createElement("div");
      el.appendChild(holder);
      var first = figure.charts[0] === chart;
      build(holder, figure, chart, first, Math.max(480, el.clientWidth - 8));
    });
    document.querySelectorAll("[data-reset-zoom]").forEach(function (b) {
      b.addEventListener("click", function () { plots.forEach(function (u) { u.setScale("x", { min: fullRange[0], max: fullRange[1] }); }); });
    });
    window.faultdrillCharts = plots;  // for a test (or a curious reader's console)
  }

  // The game day's web console draws the same charts live: ``draw`` (re)builds a figure's charts in a
  // container; ``update`` gives the drawn charts new points (the figure and chart objects are the ones
  // drawn, changed in place), keeping a reader's zoom, else following the run as it grows.
  function draw(container, figure, width) {
    plots.forEach(function (u) { u.destroy(); });
    plots.length = 0;
    fullRange = [0, figure.duration];
    container.textContent = "";
    figure.charts.forEach(function (chart, i) {
      var el = document.createElement("div");
      el.className = "fd-chart";
      el.setAttribute("data-live-chart", chart.key);
      var head = document.createElement("div");
      head.className = "fd-chart-title";
      head.textContent = chart.title + (chart.note ? " — " + chart.note : "");
      el.appendChild(head);
      var holder = document.createElement("div");
      el.appendChild(holder);
      container.appendChild(el);
      build(holder, figure, chart, i === 0, width);
    });
    window.faultdrillCharts = plots;
  }

  function update(figure) {
    var zoomed = plots.length && (plots[0].scales.x.min > fullRange[0] + 1e-6 || plots[0].scales.x.max < fullRange[1] - 1e-6);
    var range = zoomed ? { min: plots[0].scales.x.min, max: plots[0].scales.x.max } : null;
    fullRange = [0, figure.duration];
    plots.forEach(function (u) {
      var chart = figure.charts.filter(function (c) { return c.key === u.faultdrill.key; })[0];
      if (!chart) return;
      u.setData(chartData(chart), true);
      syncing = true;
      try { u.setScale("x", range || { min: fullRange[0], max: fullRange[1] }); } finally { syncing = false; }
    });
  }

  window.faultdrillLive = { draw: draw, update: update };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", render);
  else render();
})();
