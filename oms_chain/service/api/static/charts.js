// oms-chain dashboard charts: inline SVG drawn from plain JS (no build step, no library,
// nothing fetched from elsewhere). Each function redraws one <svg> from scratch; the number of
// points drawn is left in the svg's data-points attribute.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const W = 420, H = 180, PAD = { l: 56, r: 10, t: 10, b: 22 };

function svgEl(name, attrs, text) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmt(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  return v.toLocaleString("en-US", { maximumFractionDigits: a >= 100 ? 0 : 4 });
}

function reset(svg, empty) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.dataset.points = "0";
  if (empty) svg.appendChild(svgEl("text", { x: W / 2, y: H / 2, class: "empty" }, empty));
}

function extent(values) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (lo === hi) { const d = Math.abs(lo) * 0.01 || 1; lo -= d; hi += d; }
  return [lo, hi];
}

// A line chart. spec: {series: [{points: [[x, y]...], cls}], markers: [{x, y, cls, title}],
// band: {lo, hi, label} | null, zero: bool (draw y = 0), xfmt: x -> label of the x axis's ends,
// empty: text when there is no data}.
function lineChart(svg, spec) {
  const series = (spec.series || []).filter((s) => s.points.length);
  const markers = spec.markers || [];
  const xs = [], ys = [];
  for (const s of series) for (const [x, y] of s.points) { xs.push(x); ys.push(y); }
  for (const m of markers) { xs.push(m.x); ys.push(m.y); }
  if (!xs.length) { reset(svg, spec.empty || "no data yet"); return; }
  reset(svg);
  if (spec.band) ys.push(spec.band.lo, spec.band.hi);
  if (spec.zero) ys.push(0);
  const [x0, x1] = extent(xs), [y0, y1] = extent(ys);
  const sx = (x) => PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const sy = (y) => H - PAD.b - ((y - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
  svg.appendChild(svgEl("rect", { x: PAD.l, y: PAD.t, width: W - PAD.l - PAD.r,
    height: H - PAD.t - PAD.b, class: "frame" }));
  if (spec.band) {
    const top = sy(spec.band.hi), bottom = sy(spec.band.lo);
    const band = svgEl("rect", { x: PAD.l, y: top, width: W - PAD.l - PAD.r,
      height: Math.max(bottom - top, 1), class: "band" });
    band.appendChild(svgEl("title", {}, spec.band.label || "band"));
    svg.appendChild(band);
  }
  if (spec.zero && y0 < 0 && y1 > 0) {
    svg.appendChild(svgEl("line", { x1: PAD.l, x2: W - PAD.r, y1: sy(0), y2: sy(0), class: "zero" }));
  }
  for (const [v, y] of [[y1, PAD.t + 9], [y0, H - PAD.b]]) {
    svg.appendChild(svgEl("text", { x: PAD.l - 4, y, class: "axis" }, fmt(v)));
  }
  const xfmt = spec.xfmt || fmt;
  svg.appendChild(svgEl("text", { x: PAD.l, y: H - 6, class: "axis start" }, xfmt(x0)));
  svg.appendChild(svgEl("text", { x: W - PAD.r, y: H - 6, class: "axis" }, xfmt(x1)));
  let drawn = 0;
  for (const s of series) {
    const d = s.points.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    svg.appendChild(svgEl("path", { d: d.join(" "), class: "line " + (s.cls || "") }));
    drawn += s.points.length;
  }
  for (const m of markers) {
    const c = svgEl("circle", { cx: sx(m.x), cy: sy(m.y), r: 3.5, class: "marker " + (m.cls || "") });
    if (m.title) c.appendChild(svgEl("title", {}, m.title));
    svg.appendChild(c);
    drawn += 1;
  }
  svg.dataset.points = String(drawn);
}

// A horizontal bar chart. rows: [{label, value, title}]; bars scaled to the largest value.
function barChart(svg, rows, empty) {
  rows = rows.filter((r) => r.value > 0);
  if (!rows.length) { reset(svg, empty || "no data yet"); return; }
  reset(svg);
  const max = Math.max(...rows.map((r) => r.value));
  const total = rows.reduce((a, r) => a + r.value, 0);
  const step = Math.min(28, (H - PAD.t - PAD.b) / rows.length);
  const left = 130, right = 70;
  rows.forEach((r, i) => {
    const y = PAD.t + i * step;
    const label = r.label.length > 22 ? r.label.slice(0, 21) + "…" : r.label;
    svg.appendChild(svgEl("text", { x: left - 6, y: y + step * 0.65, class: "axis" }, label));
    const bar = svgEl("rect", { x: left, y: y + 2, height: Math.max(step - 6, 2),
      width: Math.max(((W - left - right) * r.value) / max, 1), class: "bar" });
    bar.dataset.label = r.label;
    bar.appendChild(svgEl("title", {}, r.title || `${r.label}: ${fmt(r.value)}`));
    svg.appendChild(bar);
    svg.appendChild(svgEl("text", { x: W - 4, y: y + step * 0.65, class: "value" },
      `${fmt(r.value)} (${Math.round((100 * r.value) / total)}%)`));
  });
  svg.dataset.points = String(rows.length);
}
