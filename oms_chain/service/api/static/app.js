// oms-chain dashboard: orders, fills and structures (one row per leg) of the session,
// refreshed on every event of the websocket stream. No build step, no dependencies.
"use strict";

let token = sessionStorage.getItem("oms-token") || "";
let socket = null;
let last = 0;
let refreshing = null;

const $ = (id) => document.getElementById(id);

function setStatus(text, live) {
  $("status").textContent = text;
  $("status").classList.toggle("live", !!live);
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
  const r = await fetch(path, Object.assign({}, options, { headers }));
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
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

async function refresh() {
  const [orders, fills, structures] = await Promise.all([
    api("/api/v1/orders"), api("/api/v1/fills"), api("/api/v1/structures"),
  ]);
  renderStructures(structures);
  const ob = $("orders").querySelector("tbody");
  ob.replaceChildren();
  for (const o of orders) {
    const tr = document.createElement("tr");
    tr.dataset.orderId = o.order_id;
    tr.className = o.status;
    cell(tr, o.order_id); cell(tr, o.symbol); cell(tr, o.side);
    cell(tr, o.quantity, "num"); cell(tr, o.filled_quantity, "num");
    cell(tr, o.avg_fill_price, "num"); cell(tr, o.status, "state");
    ob.appendChild(tr);
  }
  const fb = $("fills").querySelector("tbody");
  fb.replaceChildren();
  for (const f of fills) {
    const tr = document.createElement("tr");
    tr.dataset.orderId = f.order_id;
    cell(tr, f.order_id); cell(tr, f.venue); cell(tr, f.side);
    cell(tr, f.quantity, "num"); cell(tr, f.price, "num"); cell(tr, f.fee, "num");
    fb.appendChild(tr);
  }
}

function scheduleRefresh() {
  if (refreshing) return;
  refreshing = setTimeout(() => {
    refreshing = null;
    refresh().catch((e) => setStatus("error: " + e.message));
  }, 100);
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
