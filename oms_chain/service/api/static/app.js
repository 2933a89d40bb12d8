// oms-chain dashboard: orders, fills, routing split, positions and PnL, balances per venue, risk
// (Greeks, VaR, margin, distance to liquidation), alerts, the hedger, settlement and structures
// (one row per leg) of the session,
// with SVG charts (charts.js), refreshed on every event of the websocket stream and every few
// seconds (prices move without events). No build step, no dependencies.
"use strict";

let token = sessionStorage.getItem("oms-token") || "";
let socket = null;
let last = 0;
let refreshing = null;
let ticker = null;

const $ = (id) => document.getElementById(id);

function setStatus(text, live) {
  $("status").textContent = text;
  $("status").classList.toggle("live", !!live);
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
  const r = await fetch(path, Object.assign({}, options, { headers }));
  const body = await r.json();
  if (!r.ok) {
    const err = new Error(body.error || r.statusText);
    err.kind = body.kind;
    throw err;
  }
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "-" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
}

// One row per leg; the structure's own cells span its legs.
function renderStructures(structures) {
  const sb = $("structures").querySelector("tbody");
  sb.replaceChildren();
  for (const s of structures) {
    s.legs.forEach((leg, i) => {
      const tr = document.createElement("tr");
      tr.dataset.structureId = s.structure_id;
      tr.className = s.status;
      if (i === 0) {
        for (const [text, cls] of [[s.structure_id], [s.kind], [s.status, "state"]]) {
          cell(tr, text, cls);
          tr.lastChild.rowSpan = s.legs.length;
        }
      }
      cell(tr, leg.symbol); cell(tr, leg.side); cell(tr, leg.quantity, "num");
      cell(tr, leg.filled, "num"); cell(tr, leg.price, "num");
      if (i === 0) {
        cell(tr, s.net_premium, "num");
        tr.lastChild.rowSpan = s.legs.length;
        cell(tr, s.tx_hash ? s.tx_hash.slice(0, 12) + "…" : null);
        tr.lastChild.rowSpan = s.legs.length;
        tr.lastChild.title = s.reason || s.tx_hash || "";
      }
      sb.appendChild(tr);
    });
  }
}

// The risk routes answer 404 not_configured on a server started without --portfolio (and the
// hedger routes without a hedge policy): asked once, then shown as "not configured".
let riskConfigured = null;
let hedgerConfigured = null;
const deltaSamples = []; // [sample number, delta] of every refresh, newest last
let samples = 0;
let lastRefresh = 0;

// null when not configured; a refusal of a configured route (the risk engine cannot price the
// book yet...) is kept in riskErrors and shown next to the panel, the rest of the board goes on.
let riskErrors = [];
async function optional(path) {
  try {
    return await api(path);
  } catch (e) {
    if (e.kind === "not_configured" && !path.startsWith("/api/v1/risk/var")) return null;
    riskErrors.push(path.split("/").pop() + ": " + e.message);
    return undefined;
  }
}

const num = (v) => (v === null || v === undefined ? NaN : Number(v));
const show = (v, digits = 2) => (Number.isFinite(num(v))
  ? num(v).toLocaleString("en-US", { maximumFractionDigits: digits }) : "-");

function rows(tableId, items, fill) {
  const tb = $(tableId).querySelector("tbody");
  tb.replaceChildren();
  for (const item of items) {
    const tr = document.createElement("tr");
    fill(tr, item);
    tb.appendChild(tr);
  }
}

async function refreshRisk() {
  let greeks = null, varOut = null, margin = null, liq = null, hedger = null;
  riskErrors = [];
  if (riskConfigured !== false) {
    greeks = await optional("/api/v1/risk/greeks");
    if (greeks !== undefined) riskConfigured = greeks !== null;
    if (riskConfigured) {
      [varOut, margin, liq] = await Promise.all([
        optional("/api/v1/risk/var"), optional("/api/v1/risk/margin"),
        optional("/api/v1/risk/liquidation"),
      ]);
    }
  }
  if (hedgerConfigured !== false) {
    hedger = await optional("/api/v1/hedger");
    if (hedger !== undefined) hedgerConfigured = hedger !== null;
  }
  $("risk").classList.toggle("configured", !!riskConfigured);
  $("risk-status").textContent = riskConfigured === false
    ? "not configured (oms serve --portfolio FILE)" : riskErrors.join("; ");
  const put = (id, v) => { $(id).textContent = show(v); };
  put("risk-delta-usd", greeks && greeks.delta_usd); put("risk-gamma", greeks && greeks.gamma_1pct_usd);
  put("risk-vega", greeks && greeks.vega_1pt); put("risk-theta", greeks && greeks.theta_day);
  put("risk-equity", greeks && greeks.equity);
  put("risk-var", varOut && varOut.var); put("risk-es", varOut && varOut.es);
  put("risk-initial", margin && margin.initial); put("risk-maintenance", margin && margin.maintenance);
  put("risk-excess", margin && margin.excess);
  rows("liquidation", liq || [], (tr, l) => {
    tr.title = l.reason;
    cell(tr, l.underlying); cell(tr, show(l.spot), "num"); cell(tr, show(l.below), "num");
    cell(tr, show(l.above), "num");
    cell(tr, l.distance_pct === null ? "-" : show(l.distance_pct) + " %", "num");
    cell(tr, l.liquidatable_now ? "LIQUIDATABLE" : "no", "state");
    tr.className = l.liquidatable_now ? "rejected" : "";
  });
  if (riskConfigured) await refreshAlerts();
  else renderAlerts(riskConfigured === false ? "not configured (a risk context with alert rules)" : "");
  renderHedger(hedger);
  return { greeks, hedger };
}

// Alert rules evaluated now, and the recorded alert events (paged from the last one seen;
// the newest 50 kept, newest first).
let alertsAfter = 0;
let alertEvents = [];
let alertRules = [];
async function refreshAlerts() {
  let note = "";
  for (let pages = 0; pages < 20; pages += 1) {
    const page = await optional("/api/v1/risk/alerts?after=" + alertsAfter);
    if (!page) { note = riskErrors.join("; "); break; }
    alertRules = page.rules;
    alertEvents = page.events.slice().reverse().concat(alertEvents).slice(0, 50);
    const done = page.next_after === alertsAfter || page.next_after >= page.last_position;
    alertsAfter = page.next_after;
    if (done) break;
  }
  if (!note) {
    const active = alertRules.filter((r) => r.active).length;
    note = alertRules.length ? `${active} of ${alertRules.length} rules active` : "no alert rules";
  }
  renderAlerts(note);
}

function renderAlerts(note) {
  $("alerts-status").textContent = note;
  rows("alert-rules", alertRules, (tr, r) => {
    tr.dataset.rule = r.name;
    tr.className = r.active ? "rejected" : "filled";
    tr.title = r.message || "";
    cell(tr, r.name); cell(tr, r.metric + (r.underlying ? " " + r.underlying : ""));
    cell(tr, r.value === null ? "-" : show(r.value), "num");
    cell(tr, (r.alert_when_above ? "> " : "< ") + show(r.threshold), "num");
    cell(tr, show(r.clear_at), "num");
    cell(tr, r.active ? (r.breached ? "RAISED" : "raised (clearing band)") : "ok", "state");
  });
  rows("alert-events", alertEvents, (tr, e) => {
    tr.className = e.raised ? "rejected" : "filled";
    cell(tr, e.position, "num");
    cell(tr, new Date(e.ts_event / 1e6).toISOString().slice(0, 19).replace("T", " "));
    cell(tr, e.rule || e.order_id); cell(tr, e.raised ? "raised" : "cleared", "state");
    cell(tr, e.value === null ? show(e.quantity, 6) : show(e.value), "num"); cell(tr, e.message);
  });
}

// The hedger: policy, whether it runs, its last delta against target ± band, its last hedge.
function renderHedger(h) {
  const put = (id, text) => { $(id).textContent = text === null || text === undefined ? "-" : String(text); };
  $("hedger").classList.toggle("configured", !!h);
  $("hedger-status").textContent = hedgerConfigured === false
    ? "not configured (oms serve --hedge-policy FILE)" : (h && h.error) || "";
  if (!h) {
    for (const id of ["policy", "running", "delta", "band", "inband", "evaluations", "hedges",
      "action", "inflight", "reason"]) put("hedger-" + id, null);
    return;
  }
  const t = num(h.target), b = num(h.band), d = num(h.delta);
  put("hedger-policy", `${h.policy} (${h.instrument})`);
  put("hedger-running", h.running ? "running" : "stopped");
  put("hedger-delta", h.delta === null ? null : show(d, 4));
  put("hedger-band", `${show(t - b, 4)} .. ${show(t + b, 4)} (${h.target} ± ${h.band})`);
  put("hedger-inband", h.delta === null ? "not evaluated yet"
    : (Math.abs(d - t) <= b ? "inside the band" : "OUTSIDE the band"));
  put("hedger-evaluations", h.evaluations); put("hedger-hedges", h.hedges);
  put("hedger-action", h.last_action); put("hedger-inflight", h.in_flight);
  put("hedger-reason", h.last_reason);
}

// Balances per venue, as each venue reports them (at most every 5 s: each asks the venue).
let balancesAt = 0;
async function refreshBalances() {
  if (Date.now() - balancesAt < 5000) return;
  balancesAt = Date.now();
  const venues = await api("/api/v1/balances");
  const flat = [];
  const failed = [];
  for (const v of venues) {
    if (v.error) failed.push(`${v.venue}: ${v.error}`);
    for (const [asset, amount] of Object.entries(v.balances)) flat.push({ venue: v.venue, asset, amount });
  }
  $("balances-status").textContent = failed.join("; ");
  rows("balances", flat, (tr, b) => {
    tr.dataset.venue = b.venue;
    cell(tr, b.venue); cell(tr, b.asset); cell(tr, b.amount, "num");
  });
}

// Children per venue of each parent (from the fills of its children), newest parent first.
function routingSplit(orders, fills) {
  const parentOf = new Map();
  for (const o of orders) for (const c of o.children) parentOf.set(c, o.order_id);
  const split = new Map();
  for (const o of orders) split.set(o.order_id, new Map());
  for (const f of fills) {
    const parent = parentOf.get(f.order_id) || (split.has(f.order_id) ? f.order_id : null);
    if (!parent) continue;
    const venues = split.get(parent);
    const v = venues.get(f.venue) || { children: new Set(), filled: 0 };
    v.children.add(f.order_id); v.filled += num(f.quantity);
    venues.set(f.venue, v);
  }
  const out = [];
  for (const o of orders.slice(0, 10)) {
    const venues = split.get(o.order_id);
    const total = [...venues.values()].reduce((a, v) => a + v.filled, 0);
    for (const [venue, v] of venues) {
      out.push({ parent: o.order_id, venue, children: v.children.size, filled: v.filled,
        share: total ? (100 * v.filled) / total : 0 });
    }
  }
  return out;
}

function drawCharts(fills, positions, greeks, hedger) {
  const byTime = fills.slice().sort((a, b) => a.ts_event - b.ts_event);
  const times = byTime.map((f) => num(f.ts_event));
  const flat = times.length && times[0] === times[times.length - 1];
  const x = (f, i) => (flat ? i : num(f.ts_event) / 1e9); // seconds; the fill number if all at once
  const span = times.length ? (times[times.length - 1] - times[0]) / 1e9 : 0;
  const xfmt = flat ? (v) => "fill " + (Math.round(v) + 1)
    : (v) => new Date(v * 1000).toISOString().slice(11, span < 60 ? 23 : 19) + " UTC";
  const markers = byTime.map((f, i) => ({ x: x(f, i), y: num(f.price), cls: f.side,
    title: `${f.side} ${f.quantity} @ ${f.price} on ${f.venue}` }));
  lineChart($("chart-price"), {
    series: [{ points: markers.map((m) => [m.x, m.y]), cls: "price" }],
    markers, band: null, xfmt, empty: "no fills yet",
  });
  // PnL after each fill, every instrument marked at its last fill price (gross of fees)
  const pos = new Map(); let cash = 0; const pnl = [];
  byTime.forEach((f, i) => {
    const q = num(f.quantity) * (f.side === "buy" ? 1 : -1);
    const p = pos.get(f.instrument_id) || { qty: 0, mark: 0 };
    p.qty += q; p.mark = num(f.price); cash -= q * num(f.price);
    pos.set(f.instrument_id, p);
    let value = cash;
    for (const v of pos.values()) value += v.qty * v.mark;
    pnl.push([x(f, i), value]);
  });
  lineChart($("chart-pnl"), { series: [{ points: pnl, cls: "pnl" }], zero: true, xfmt,
    empty: "no fills yet" });
  // delta: the risk engine's (first underlying) when configured, else the net spot position
  // (a spot instrument's id starts with spot:)
  let delta = null, source = "";
  if (greeks && greeks.underlyings.length) {
    delta = num(greeks.underlyings[0].delta); source = `(${greeks.underlyings[0].underlying}, risk engine)`;
  } else {
    const spot = positions.filter((p) => p.instrument_id.startsWith("spot:"));
    if (spot.length) {
      delta = spot.reduce((a, p) => a + num(p.quantity), 0); source = "(net spot position)";
    }
  }
  if (delta !== null && Number.isFinite(delta)) {
    samples += 1;
    deltaSamples.push([samples, delta]);
    if (deltaSamples.length > 200) deltaSamples.shift();
  }
  let band = null;
  if (hedger) {
    const t = num(hedger.target), b = num(hedger.band);
    band = { lo: t - b, hi: t + b, label: `hedger ${hedger.policy}: ${t} ± ${b}` };
    source += ` band ${t} ± ${b}`;
  } else {
    source += " no hedger band";
  }
  $("delta-source").textContent = source;
  lineChart($("chart-delta"), { series: [{ points: deltaSamples.slice(), cls: "delta" }], band,
    zero: true, xfmt: (v) => "refresh " + Math.round(v), empty: "no position yet" });
  const venues = new Map();
  for (const f of fills) venues.set(f.venue, (venues.get(f.venue) || 0) + num(f.quantity));
  barChart($("chart-venues"), [...venues].map(([label, value]) => ({ label, value })),
    "no fills yet");
}

async function refresh() {
  lastRefresh = Date.now();
  const [orders, fills, structures, positions, settlements] = await Promise.all([
    api("/api/v1/orders"), api("/api/v1/fills"), api("/api/v1/structures"),
    api("/api/v1/positions"), api("/api/v1/settlements"),
  ]);
  renderStructures(structures);
  rows("orders", orders, (tr, o) => {
    tr.dataset.orderId = o.order_id;
    tr.className = o.status;
    cell(tr, o.order_id); cell(tr, o.symbol); cell(tr, o.side);
    cell(tr, o.quantity, "num"); cell(tr, o.filled_quantity, "num");
    cell(tr, o.avg_fill_price, "num"); cell(tr, o.status, "state");
  });
  rows("fills", fills, (tr, f) => {
    tr.dataset.orderId = f.order_id;
    cell(tr, f.order_id); cell(tr, f.venue); cell(tr, f.side);
    cell(tr, f.quantity, "num"); cell(tr, f.price, "num"); cell(tr, f.fee, "num");
  });
  rows("routing", routingSplit(orders, fills), (tr, r) => {
    tr.dataset.orderId = r.parent;
    cell(tr, r.parent); cell(tr, r.venue); cell(tr, r.children, "num");
    cell(tr, show(r.filled, 6), "num"); cell(tr, show(r.share, 1) + " %", "num");
  });
  const symbols = new Map(orders.map((o) => [o.instrument_id, o.symbol]));
  const marks = new Map();
  for (const f of fills) marks.set(f.instrument_id, num(f.price)); // fills are in recorded order
  rows("positions", positions, (tr, p) => {
    const mark = marks.has(p.instrument_id) ? marks.get(p.instrument_id) : NaN;
    const unreal = num(p.quantity) * (mark - num(p.avg_price));
    cell(tr, p.venue); cell(tr, symbols.get(p.instrument_id) || p.instrument_id);
    tr.lastChild.title = p.instrument_id;
    cell(tr, p.quantity, "num");
    cell(tr, show(p.avg_price, 6), "num"); cell(tr, show(mark, 6), "num");
    cell(tr, show(p.realized_pnl), "num"); cell(tr, show(unreal), "num");
    cell(tr, show(p.fees, 6), "num");
    cell(tr, show(num(p.realized_pnl) + (Number.isFinite(unreal) ? unreal : 0)), "num");
  });
  rows("settlements", settlements, (tr, s) => {
    tr.dataset.orderId = s.order_id;
    tr.className = s.status;
    cell(tr, s.order_id); cell(tr, s.tx_hash.slice(0, 14) + "…"); tr.lastChild.title = s.tx_hash;
    cell(tr, s.status, "state"); cell(tr, s.confirmations, "num"); cell(tr, s.block_number, "num");
  });
  const [{ greeks, hedger }] = await Promise.all([refreshRisk(), refreshBalances()]);
  drawCharts(fills, positions, greeks || null, hedger || null);
  if (token) setStatus("live", true);
}

// At most one refresh in flight and about two a second (the API rate-limits each token).
let pending = false;
function scheduleRefresh() {
  if (refreshing) { pending = true; return; }
  const wait = Math.max(100, 500 - (Date.now() - lastRefresh));
  refreshing = setTimeout(() => {
    refresh()
      .catch((e) => setStatus("error: " + e.message))
      .finally(() => {
        refreshing = null;
        if (pending) { pending = false; scheduleRefresh(); }
      });
  }, wait);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/api/v1/stream?after=" + last);
  socket.onopen = () => socket.send(JSON.stringify({ token }));
  socket.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "error") {
      signOut("Refused: " + msg.error);
    } else if (msg.type === "ready") {
      $("login").hidden = true;
      $("board").hidden = false;
      setStatus("live", true);
      scheduleRefresh();
      if (!ticker) ticker = setInterval(() => { if (token) scheduleRefresh(); }, 5000);
    } else if (msg.type === "event") {
      last = msg.event.position;
      $("position").textContent = String(last);
      scheduleRefresh();
    }
  };
  socket.onclose = () => {
    if (!token) return;
    setStatus("reconnecting…");
    setTimeout(connect, 1000); // resumes after the last position seen: no gaps, no repeats
  };
}

function signOut(message) {
  token = "";
  sessionStorage.removeItem("oms-token");
  if (socket) socket.close();
  $("board").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  setStatus("signed out");
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  $("login-error").textContent = "";
  sessionStorage.setItem("oms-token", token);
  connect();
});

$("order-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("order-error").textContent = "";
  try {
    await api("/api/v1/intents", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        symbol: $("symbol").value.trim(),
        side: $("side").value,
        quantity: $("quantity").value.trim(),
      }),
    });
    scheduleRefresh();
  } catch (err) {
    $("order-error").textContent = err.message;
  }
});

if (token) connect();
