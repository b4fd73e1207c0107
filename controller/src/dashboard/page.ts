// The dashboard's page: one HTML document and one script, served by the CLI itself (nothing is fetched from
// elsewhere), that draws /api/graph as SVG and refreshes it every 5 seconds.

export const PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Ambit mesh</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { color-scheme: light; --ink: #1d2733; --muted: #5b6b7c; --line: #8896a6; --ok: #2e8b57; --warn: #d08a00; --bad: #c62828; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #f4f6f9; }
  header { display: flex; align-items: baseline; gap: 18px; padding: 12px 20px; background: #1d2733; color: #fff; }
  header h1 { margin: 0; font-size: 18px; font-weight: 600; }
  header .meta { color: #b8c4d0; font-size: 12px; }
  header .legend { margin-left: auto; font-size: 12px; color: #b8c4d0; display: flex; gap: 14px; align-items: center; }
  .sw { display: inline-block; width: 12px; height: 12px; border-radius: 3px; vertical-align: -1px; margin-right: 4px; }
  main { padding: 16px 20px; }
  #panel { max-width: 760px; margin: 40px auto; background: #fff; border: 1px solid #d5dde6; border-left: 6px solid var(--warn); border-radius: 6px; padding: 18px 22px; }
  #panel.bad { border-left-color: var(--bad); }
  #panel h2 { margin: 0 0 8px; font-size: 17px; }
  #panel p { margin: 0 0 10px; }
  #panel code { display: block; background: #f0f3f7; padding: 6px 10px; margin: 4px 0; border-radius: 4px; font: 13px "DejaVu Sans Mono", monospace; }
  #canvas { background: #fff; border: 1px solid #d5dde6; border-radius: 6px; overflow: auto; }
  #note { color: var(--muted); font-size: 12px; margin: 6px 2px; }
  svg text { font-family: "DejaVu Sans", Arial, sans-serif; }
  .node rect, .node polygon { stroke-width: 1.5; }
  .node .name { font-size: 13px; font-weight: 600; fill: var(--ink); }
  .node .sub { font-size: 11px; fill: var(--muted); }
  .edge path { fill: none; stroke-width: 2; }
  .edgelabel .label { font-size: 11px; fill: var(--ink); }
  .edgelabel .labelbg { fill: #fff; fill-opacity: 0.92; stroke: #d5dde6; }
</style>
</head>
<body data-state="loading">
<header>
  <h1>Ambit mesh</h1>
  <span class="meta" id="meta">connecting&hellip;</span>
  <span class="legend">
    <span><span class="sw" style="background:#e3efff;border:1px solid #3b73b9"></span>workload</span>
    <span><span class="sw" style="background:#e6f6ec;border:1px solid #2e8b57"></span>service</span>
    <span><span class="sw" style="background:#f1e8fb;border:1px solid #7b4bb7"></span>waypoint</span>
    <span>&#8212; HTTP &nbsp; - - TCP</span>
  </span>
</header>
<main>
  <div id="panel" hidden></div>
  <div id="canvas" hidden></div>
  <div id="note"></div>
</main>
<script src="/app.js"></script>
</body>
</html>
`;

export const PAGE_JS = String.raw`'use strict';
(function () {
  var NS = 'http://www.w3.org/2000/svg';
  var W = 140, H = 46;
  var REFRESH_MS = 5000;

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, cls, s, anchor) {
    var t = el('text', { x: x, y: y, 'class': cls, 'text-anchor': anchor || 'middle' }, parent);
    t.textContent = s;
    return t;
  }
  function clip(s, n) { return s.length > n ? s.slice(0, n - 1) + '\u2026' : s; }
  function num(x) { return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2); }
  function bytes(x) {
    var u = ['B/s', 'KB/s', 'MB/s', 'GB/s'], i = 0;
    while (x >= 1000 && i < u.length - 1) { x /= 1000; i++; }
    return num(x) + ' ' + u[i];
  }
  function pct(x) { return (x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0) + '%'; }

  function edgeColor(e) {
    if (e.protocol === 'tcp') return '#5b6b7c';
    if (e.errorRate > 0.05) return '#c62828';
    if (e.errorRate > 0 || e.clientErrorRate > 0.1) return '#d08a00';
    return '#2e8b57';
  }
  /** Two short lines: the rate and p99, then the error shares (HTTP); bytes, then connections (TCP). */
  function edgeLabel(e) {
    if (e.protocol === 'tcp') return [bytes(e.bytesPerSecond), num(e.connectionsPerSecond) + ' conn/s'];
    var first = num(e.rps) + ' rps';
    if (e.p99Ms !== undefined && e.p99Ms !== null) first += ' \u00b7 p99 ' + (e.p99Ms >= 10 ? e.p99Ms.toFixed(0) : e.p99Ms.toFixed(1)) + ' ms';
    var second = pct(e.errorRate) + ' 5xx';
    if (e.clientErrorRate > 0) second += ' \u00b7 ' + pct(e.clientErrorRate) + ' 4xx';
    return [first, second];
  }

  function padlock(parent, x, y, title) {
    var g = el('g', { 'class': 'mtls', transform: 'translate(' + x + ',' + y + ')' }, parent);
    el('title', {}, g).textContent = title;
    el('path', { d: 'M2.5 6 V4 a3.5 3.5 0 0 1 7 0 V6', fill: 'none', stroke: '#2e5e9e', 'stroke-width': 1.6 }, g);
    el('rect', { x: 0.5, y: 6, width: 11, height: 8, rx: 1.5, fill: '#2e5e9e' }, g);
    return g;
  }

  function drawNode(svg, n, p) {
    var g = el('g', { 'class': 'node', 'data-id': n.id, 'data-kind': n.kind, 'data-name': n.name, 'data-version': n.version || '', transform: 'translate(' + p.x + ',' + p.y + ')' }, svg);
    el('title', {}, g).textContent = n.kind + ' ' + (n.hostname || (n.namespace ? n.namespace + '/' : '') + n.name);
    if (n.kind === 'waypoint') {
      var r = 17, pts = [];
      for (var i = 0; i < 6; i++) { var a = Math.PI / 3 * i; pts.push((r * Math.cos(a)).toFixed(1) + ',' + (r * Math.sin(a)).toFixed(1)); }
      el('polygon', { points: pts.join(' '), fill: '#f1e8fb', stroke: '#7b4bb7' }, g);
      text(g, 0, 4, 'sub', 'wp');
      text(g, 0, 32, 'name', clip(n.name, 22)).setAttribute('fill', '#7b4bb7');
      return;
    }
    var fill = n.kind === 'service' ? '#e6f6ec' : n.kind === 'unknown' ? '#eceff3' : '#e3efff';
    var stroke = n.kind === 'service' ? '#2e8b57' : n.kind === 'unknown' ? '#8896a6' : '#3b73b9';
    el('rect', { x: -W / 2, y: -H / 2, width: W, height: H, rx: n.kind === 'service' ? H / 2 : 8, fill: fill, stroke: stroke }, g);
    var sub = n.kind === 'service' ? 'service \u00b7 ' + (n.namespace || '') : n.kind === 'workload' ? (n.version ? n.version + ' \u00b7 ' : '') + n.namespace : '';
    text(g, 0, sub ? -2 : 5, 'name', clip(n.name, 20));
    if (sub) text(g, 0, 14, 'sub', clip(sub, 26));
  }

  function drawEdge(svg, labels, e, pos) {
    var s = pos[e.source], t = pos[e.target];
    if (!s || !t) return;
    var g = el('g', { 'class': 'edge', 'data-source': e.source, 'data-target': e.target, 'data-protocol': e.protocol, 'data-mtls': String(e.mtls), 'data-waypoint': e.waypoint || '' }, svg);
    var color = edgeColor(e);
    var pts = [[s.x + W / 2, s.y]];
    var w = e.waypoint && pos[e.waypoint];
    if (w) pts.push([w.x - 17, w.y], [w.x + 17, w.y]);
    pts.push([t.x - W / 2 - 4, t.y]);
    var back = t.x <= s.x;
    if (back) { pts[0] = [s.x, s.y + H / 2]; pts[pts.length - 1] = [t.x, t.y + H / 2 + 4]; }
    var d = 'M' + pts[0][0] + ',' + pts[0][1];
    for (var i = 1; i < pts.length; i++) {
      var a = pts[i - 1], b = pts[i];
      if (w && i === 2) { d += ' L' + b[0] + ',' + b[1]; continue; }
      var dx = back ? 0 : Math.max(30, (b[0] - a[0]) / 2), dy = back ? 60 : 0;
      d += ' C' + (a[0] + dx) + ',' + (a[1] + dy) + ' ' + (b[0] - dx) + ',' + (b[1] + dy) + ' ' + b[0] + ',' + b[1];
    }
    el('path', { d: d, stroke: color, 'stroke-dasharray': e.protocol === 'tcp' ? '6 4' : '', 'marker-end': 'url(#arrow-' + color.slice(1) + ')' }, g);
    // The label near the target end of the edge, where edges fanning out of one node have separated.
    var la = pts[pts.length - 2], lb = pts[pts.length - 1];
    var lx = (la[0] + lb[0]) / 2, ly = (la[1] + lb[1]) / 2;
    // Through a waypoint: the figures are the waypoint's own (reporter="waypoint"), under its name.
    if (w) { lx = w.x; ly = w.y + 58; }
    var lg = el('g', { 'class': 'edgelabel', 'data-edge': e.id }, labels);
    var lines = edgeLabel(e);
    var width = Math.max(lines[0].length, lines[1].length) * 6.3 + (e.mtls ? 24 : 10);
    el('rect', { 'class': 'labelbg', x: lx - width / 2, y: ly - 14, width: width, height: 30, rx: 4 }, lg);
    text(lg, lx - width / 2 + 5, ly - 1, 'label', lines[0], 'start');
    text(lg, lx - width / 2 + 5, ly + 12, 'label', lines[1], 'start');
    if (e.mtls) padlock(lg, lx + width / 2 - 17, ly - 6, 'mTLS (connection_security_policy=mutual_tls)');
  }

  function showPanel(state, data) {
    var panel = document.getElementById('panel');
    document.getElementById('canvas').hidden = true;
    panel.hidden = false;
    panel.className = state === 'no-traffic' ? '' : 'bad';
    panel.textContent = '';
    var titles = {
      'prometheus-unreachable': 'Prometheus is not reachable',
      'prometheus-error': 'Prometheus could not answer',
      'no-metrics': 'No Istio metrics in Prometheus yet',
      'no-traffic': 'No traffic yet',
      'dashboard-down': 'The dashboard server is not answering'
    };
    var h = document.createElement('h2'); h.textContent = titles[state] || state; panel.appendChild(h);
    var p = document.createElement('p'); p.textContent = data.message || ''; panel.appendChild(p);
    if (data.hints && data.hints.length) {
      var c = document.createElement('p'); c.textContent = 'Check:'; panel.appendChild(c);
      data.hints.forEach(function (hint) { var code = document.createElement('code'); code.textContent = hint; panel.appendChild(code); });
    }
  }

  function showGraph(data) {
    var canvas = document.getElementById('canvas');
    document.getElementById('panel').hidden = true;
    canvas.hidden = false;
    canvas.textContent = '';
    var g = data.graph, pos = g.layout.positions;
    var svg = el('svg', { width: g.layout.width, height: g.layout.height, viewBox: '0 0 ' + g.layout.width + ' ' + g.layout.height, role: 'img', 'aria-label': 'service graph' }, canvas);
    var defs = el('defs', {}, svg);
    ['2e8b57', 'd08a00', 'c62828', '5b6b7c'].forEach(function (c) {
      var m = el('marker', { id: 'arrow-' + c, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
      el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#' + c }, m);
    });
    var edges = el('g', { 'class': 'edges' }, svg);
    var nodes = el('g', { 'class': 'nodes' }, svg);
    var labels = el('g', { 'class': 'labels' }, svg);
    g.edges.forEach(function (e) { drawEdge(edges, labels, e, pos); });
    g.nodes.forEach(function (n) { if (pos[n.id]) drawNode(nodes, n, pos[n.id]); });
    var note = g.totalEdges > g.edges.length ? 'Showing the ' + g.edges.length + ' busiest of ' + g.totalEdges + ' edges. ' : '';
    document.getElementById('note').textContent = note + g.nodes.length + ' nodes, ' + g.edges.length + ' edges.';
  }

  function render(data) {
    document.getElementById('meta').textContent = 'Prometheus: ' + data.prometheus + ' \u00b7 window ' + data.window + ' \u00b7 updated ' + new Date(data.time).toLocaleTimeString();
    if (data.state === 'ok') showGraph(data); else { document.getElementById('note').textContent = ''; showPanel(data.state, data); }
    document.body.setAttribute('data-state', data.state);
  }

  function refresh() {
    fetch('/api/graph', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(render)
      .catch(function (err) {
        document.getElementById('note').textContent = '';
        showPanel('dashboard-down', { message: 'The page cannot reach the ambit dashboard command that serves it (' + err.message + '). Is "ambit dashboard" still running?', hints: ['ambit dashboard'] });
        document.body.setAttribute('data-state', 'dashboard-down');
      });
  }
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
`;
