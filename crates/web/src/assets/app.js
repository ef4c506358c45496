// cwb serve: the page. Live mode polls /api/state and listens to /api/events; replay
// mode steps a cursor through /api/replay and /api/replay/at. Plain JavaScript and
// inline SVG; nothing is fetched from anywhere but this server.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const W = 520, H = 380, R = 140, CX = W / 2, CY = 175;

// The cluster secret, when the server is not on loopback: open the page as
// http://HOST:PORT/#secret=HEX; it stays in this tab only.
(function keepSecret() {
  const m = location.hash.match(/secret=([0-9a-fA-F]+)/);
  if (m) { sessionStorage.setItem("cwb-secret", m[1]); history.replaceState(null, "", location.pathname); }
})();

async function post(path, body) {
  const headers = { "Content-Type": "application/json" };
  const secret = sessionStorage.getItem("cwb-secret");
  if (secret) headers["Authorization"] = "Bearer " + secret;
  const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  let data = null;
  try { data = await r.json(); } catch (_) { data = { ok: false, lines: [r.status + " " + r.statusText] }; }
  return data;
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function sv(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---------------------------------------------------------------- panels

// One panel per protocol: a ring of nodes (SVG) and a card per node.
const panels = new Map(); // protocol -> {root, svg, links, nodesLayer, msgs, cards, pos, cardKeys, timers}
let mode = "live";
let groups = {}; // live: node -> group letter picked for the next partition

function position(i, n) {
  const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
  return [CX + R * Math.cos(a), CY + R * Math.sin(a)];
}

function panelFor(protocol, words) {
  let p = panels.get(protocol);
  if (p) return p;
  const root = el("div", { class: "panel", "data-protocol": protocol });
  root.append(el("h3", {}, protocol), el("div", { class: "legend" },
    "log: " + words.log_legend + "; filled = committed, red bar = commit point"));
  const svg = sv("svg", { class: "ring", viewBox: `0 0 ${W} ${H}` });
  const bands = sv("g", { class: "bands", visibility: "hidden" });
  ["A", "B", "C"].forEach((g, i) => {
    bands.append(sv("rect", { class: "band", x: 4 + i * (W - 8) / 3, y: 4, width: (W - 8) / 3 - 4, height: H - 8, rx: 8 }));
    bands.append(sv("text", { class: "band-label", x: 4 + (i + 0.5) * (W - 8) / 3, y: 22 }, "group " + g));
  });
  const links = sv("g"), nodesLayer = sv("g"), msgs = sv("g");
  svg.append(bands, links, nodesLayer, msgs);
  const cards = el("div", { class: "cards" });
  root.append(svg, cards);
  $("panels").append(root);
  p = { root, svg, bands, links, nodesLayer, msgs, cards, pos: new Map(), cardKeys: new Map(), timers: new Map() };
  panels.set(protocol, p);
  return p;
}

function clearPanels() { panels.clear(); $("panels").replaceChildren(); }

function drawRing(p, nodes) {
  const n = nodes.length;
  if (p.pos.size !== n) {
    p.links.replaceChildren();
    nodes.forEach((node, i) => p.pos.set(node.id, position(i, n)));
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
      const [x1, y1] = p.pos.get(nodes[i].id), [x2, y2] = p.pos.get(nodes[j].id);
      p.links.append(sv("line", { class: "link", x1, y1, x2, y2 }));
    }
  }
  p.nodesLayer.replaceChildren();
  p.timers.clear();
  for (const node of nodes) {
    const [x, y] = p.pos.get(node.id);
    const g = sv("g", { class: `node ${node.kind}${node.isolated ? " isolated" : ""}`, "data-node": node.id, "data-kind": node.kind, transform: `translate(${x},${y})` });
    g.append(sv("circle", { r: 32 }));
    g.append(sv("text", { class: "name", y: -4 }, "n" + node.id));
    g.append(sv("text", { class: "role", y: 11 }, node.up ? node.role : "down"));
    if (node.up) {
      g.append(sv("text", { class: "info", y: 48 }, `${p.words.generation} ${node.term}  commit ${node.commit}`));
      if (node.vote) g.append(sv("text", { class: "info", y: 61 }, node.vote));
    }
    if (node.group) g.append(sv("text", { class: "info", y: -40 }, "group " + "ABC"[node.group - 1]));
    else if (groups[node.id]) g.append(sv("text", { class: "info", y: -40 }, "→ " + groups[node.id]));
    node.timers.slice(0, 2).forEach((t, k) => {
      const y0 = 66 + k * 9 + (node.vote ? 0 : -12);
      g.append(sv("rect", { class: "timer-bg", x: -30, y: y0, width: 60, height: 5 }));
      const bar = sv("rect", { class: "timer " + t.name, x: -30, y: y0, width: 60, height: 5 });
      bar.append(sv("title", {}, t.name));
      g.append(bar);
      p.timers.set(bar, { left: t.remaining_ms, total: Math.max(t.total_ms, 1), at: performance.now() });
    });
    if (mode === "live") enableDrag(p, g, node.id);
    p.nodesLayer.append(g);
  }
}

function cardKey(node) { return JSON.stringify({ ...node, timers: node.timers.map((t) => t.name) }) + (groups[node.id] || ""); }

function drawCards(p, nodes) {
  const seen = new Set();
  for (const node of nodes) {
    seen.add(node.id);
    const key = cardKey(node);
    if (p.cardKeys.get(node.id) === key) continue; // unchanged: keep the buttons in place
    p.cardKeys.set(node.id, key);
    let card = p.cards.querySelector(`.card[data-node="${node.id}"]`);
    if (!card) { card = el("div", { "data-node": node.id }); p.cards.append(card); }
    card.className = "card " + node.kind;
    card.replaceChildren();
    card.append(el("div", { class: "head" }, `n${node.id} ${node.up ? node.role : "down"}${node.isolated ? " (isolated)" : ""}`));
    if (node.up) {
      card.append(el("div", { class: "meta" },
        `${p.words.generation} ${node.term} · leader ${node.leader ?? "-"} · ${node.vote ?? "no vote"}`));
      card.append(el("div", { class: "meta" },
        `commit ${node.commit} · last ${node.last_index}` + (node.applied != null ? ` · applied ${node.applied}` : "")));
      const log = el("div", { class: "log" });
      if (node.log_len > node.log.length) log.append(el("span", { class: "more" }, `${node.log_len - node.log.length} older…`));
      let marked = false;
      node.log.forEach((e, i) => {
        const next = node.log[i + 1];
        log.append(el("span", { class: "entry" + (e.committed ? " committed" : ""), title: e.committed ? "committed" : "not known committed" }, e.label));
        if (!marked && e.committed && !(next && next.committed)) { log.append(el("span", { class: "commit-point", title: "commit point" })); marked = true; }
      });
      if (node.log.length === 0) log.append(el("span", { class: "more" }, "empty log"));
      card.append(log);
    }
    const buttons = el("div", { class: "buttons" });
    for (const action of ["kill", "restart", "isolate"]) {
      const b = el("button", { id: `${action}-${node.id}`, "data-action": action, "data-node": node.id }, action);
      b.addEventListener("click", () => nodeAction(action, node.id));
      buttons.append(b);
    }
    if (mode === "live") {
      // A planned failover: the leader hands its leadership to this node.
      const t = el("button", { id: `transfer-${node.id}`, "data-action": "transfer", "data-node": node.id, title: "ask the leader to hand its leadership to this node" }, "transfer here");
      t.addEventListener("click", () => command(`transfer ${node.id}`));
      buttons.append(t);
      const pick = el("select", { title: "group for the next partition", "data-node": node.id });
      for (const g of ["", "A", "B", "C"]) pick.append(el("option", { value: g }, g ? "group " + g : "no group"));
      pick.value = groups[node.id] || "";
      pick.addEventListener("change", () => { groups[node.id] = pick.value; p.cardKeys.delete(node.id); });
      buttons.append(pick);
    }
    card.append(buttons);
  }
  for (const card of [...p.cards.children]) if (!seen.has(Number(card.dataset.node))) card.remove();
}

function drawPanel(protocol, words, nodes, leader) {
  const p = panelFor(protocol, words);
  p.words = words;
  drawRing(p, nodes);
  drawCards(p, nodes);
  return p;
}

// Timer bars count down between snapshots.
function tick() {
  const now = performance.now();
  for (const p of panels.values()) for (const [bar, t] of p.timers) {
    const left = Math.max(0, t.left - (now - t.at));
    bar.setAttribute("width", (60 * Math.min(1, left / t.total)).toFixed(1));
  }
  requestAnimationFrame(tick);
}
requestAnimationFrame(tick);

// A message as a dot travelling along its link (one per link and sample, with the count).
function animate(p, from, to, count, kind) {
  const pa = p.pos.get(from), pb = p.pos.get(to);
  if (!pa || !pb) return;
  // Each direction of a link runs on its own side of the line, so the two do not meet.
  const dx = pb[0] - pa[0], dy = pb[1] - pa[1], len = Math.hypot(dx, dy) || 1;
  const side = from < to ? 1 : -1, ox = (-dy / len) * 7 * side, oy = (dx / len) * 7 * side;
  const a = [pa[0] + ox, pa[1] + oy], b = [pb[0] + ox, pb[1] + oy];
  const dot = sv("circle", { class: "msg", r: 4 });
  const label = sv("text", { class: "msg-label" }, (count > 1 ? count + "× " : "") + kind);
  p.msgs.append(dot, label);
  const start = performance.now(), dur = 450;
  function frame(now) {
    const f = Math.max(0, Math.min(1, (now - start) / dur));
    const x = a[0] + (b[0] - a[0]) * f, y = a[1] + (b[1] - a[1]) * f;
    dot.setAttribute("cx", x); dot.setAttribute("cy", y);
    label.setAttribute("x", x + ox * 1.6); label.setAttribute("y", y + oy * 1.6 + 3);
    label.setAttribute("text-anchor", ox < 0 ? "end" : "start");
    if (f < 1) requestAnimationFrame(frame); else { dot.remove(); label.remove(); }
  }
  requestAnimationFrame(frame);
}

// Partition by dragging: drop a node into band A, B or C, then press "partition".
function enableDrag(p, g, id) {
  g.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    const pt = p.svg.createSVGPoint();
    const toSvg = (e) => { pt.x = e.clientX; pt.y = e.clientY; return pt.matrixTransform(p.svg.getScreenCTM().inverse()); };
    p.bands.setAttribute("visibility", "visible");
    p.dragging = true;
    const move = (e) => { const q = toSvg(e); g.setAttribute("transform", `translate(${q.x},${q.y})`); };
    const up = (e) => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      p.bands.setAttribute("visibility", "hidden");
      p.dragging = false;
      const q = toSvg(e);
      groups[id] = "ABC"[Math.max(0, Math.min(2, Math.floor((q.x - 4) / ((W - 8) / 3))))];
      p.cardKeys.delete(id);
      say(`n${id} goes to group ${groups[id]} at the next "partition"`);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  });
}

// ---------------------------------------------------------------- timeline

function addLine(text, kind, future) {
  const ol = $("lines");
  const stick = ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 20;
  ol.append(el("li", { class: (kind || "") + (future ? " future" : "") }, text));
  while (ol.children.length > 600) ol.firstChild.remove();
  if (stick) ol.scrollTop = ol.scrollHeight;
}
function say(text) { $("reply").textContent = text; }

function setLeader(id) {
  const l = $("leader");
  l.dataset.node = id == null ? "" : String(id);
  l.textContent = id == null ? "leader: none" : "leader: n" + id;
}

// ---------------------------------------------------------------- live mode

async function command(text) {
  const r = await post("/api/command", { command: text });
  say((r.lines || []).join(" · "));
  await refreshLive();
  return r;
}

async function nodeAction(action, id) {
  if (mode === "live") return command(`${action} ${id}`);
  return inject(`${action} ${id}`);
}

async function refreshLive() {
  const r = await fetch("/api/state");
  if (!r.ok) throw new Error("state: " + r.status);
  const s = await r.json();
  $("title").textContent = "cwb serve · " + s.words.protocol;
  $("subtitle").textContent = `live cluster of ${s.nodes.length} · up ${(s.uptime_ms / 1000).toFixed(0)} s · load ${s.load}/s` +
    (s.net.loss ? ` · loss ${s.net.loss}` : "") + (s.net.delay_ms ? ` · delay ${s.net.delay_ms} ms` : "");
  const p = panelFor(s.words.protocol, s.words);
  if (!p.dragging) drawPanel(s.words.protocol, s.words, s.nodes, s.leader);
  setLeader(s.leader);
}

function connectEvents() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/events");
  ws.onopen = () => { $("conn").textContent = "live"; $("conn").className = "conn ok"; };
  ws.onclose = () => { $("conn").textContent = "disconnected; retrying"; $("conn").className = "conn bad"; setTimeout(connectEvents, 1000); };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "line") addLine(m.text, m.kind);
    else if (m.type === "messages") {
      const p = panels.values().next().value;
      if (p) for (const l of m.links) animate(p, l.from, l.to, l.count, l.kind);
    }
  };
}

function startLive() {
  $("live-controls").hidden = false;
  $("apply-net").onclick = async () => { await command("loss " + Number($("loss").value)); await command("delay " + Math.round(Number($("delay").value))); };
  $("heal").onclick = async () => { groups = {}; await command("heal"); };
  $("apply-partition").onclick = async () => {
    const by = { A: [], B: [], C: [] };
    for (const [id, g] of Object.entries(groups)) if (g) by[g].push(id);
    const text = Object.values(by).filter((g) => g.length).map((g) => g.join(",")).join("/");
    if (!text) { say("drag nodes into groups (or pick one on each card) first"); return; }
    groups = {};
    await command("partition " + text);
  };
  $("put").onclick = () => command(`put ${$("key").value || "k"} ${$("value").value || "v"}`);
  $("get").onclick = () => command(`get ${$("key").value || "k"}`);
  $("load").oninput = () => { $("load-value").textContent = $("load").value; };
  $("load").onchange = () => command("load " + $("load").value);
  connectEvents();
  const loop = async () => {
    try { await refreshLive(); } catch (e) { $("conn").textContent = "server gone"; $("conn").className = "conn bad"; }
    setTimeout(loop, 250);
  };
  loop();
}

// ---------------------------------------------------------------- replay mode

const replay = { times: [], elections: [], idx: 0, playing: null, overview: null };

async function loadOverview() {
  const r = await fetch("/api/replay");
  const o = await r.json();
  if (o.ok === false) { addLine((o.lines || []).join(" "), "command"); return; }
  replay.overview = o;
  replay.times = o.times;
  replay.elections = o.elections;
  $("scrub").max = String(Math.max(0, o.times.length - 1));
  $("title").textContent = "cwb serve · replay";
  $("subtitle").textContent = `${o.title} · ${o.nodes} nodes · ${o.protocols.join(", ")}`;
  const pick = $("scenario");
  if (pick.options.length !== o.scenarios.length) {
    pick.replaceChildren(...o.scenarios.map((n) => el("option", { value: n }, n)));
  }
  pick.value = o.name;
  pick.disabled = o.scenarios.length === 0;
  $("side-by-side").checked = o.protocols.length > 1;
  $("injected").textContent = o.injected.length ? o.injected.length + " injected: " + o.injected.map((s) => `${(s.at_ns / 1e6).toFixed(1)} ms ${s.text}`).join("; ") : "";
}

async function showAt(idx) {
  replay.idx = Math.max(0, Math.min(idx, replay.times.length - 1));
  const t = replay.times[replay.idx] || 0;
  $("scrub").value = String(replay.idx);
  $("clock").textContent = `${(t / 1e6).toFixed(3)} ms · step ${replay.idx + 1}/${replay.times.length}`;
  const r = await fetch("/api/replay/at?t_ns=" + t);
  const s = await r.json();
  if (s.ok === false) { addLine((s.lines || []).join(" "), "command"); return; }
  const names = new Set(s.panels.map((p) => p.words.protocol));
  for (const name of [...panels.keys()]) if (!names.has(name)) { panels.get(name).root.remove(); panels.delete(name); }
  let leader = null;
  for (const pn of s.panels) {
    const p = drawPanel(pn.words.protocol, pn.words, pn.nodes, pn.leader);
    if (leader == null) leader = pn.leader;
    for (const a of pn.arrivals) animate(p, a.from, a.to, a.count, a.kind);
  }
  setLeader(leader);
  const ol = $("lines");
  ol.replaceChildren();
  for (const pn of s.panels) {
    if (s.panels.length > 1) addLine("== " + pn.words.protocol, "command");
    for (const l of pn.lines) addLine(l.text, "event");
    for (const prob of pn.problems) addLine("!! " + prob, "command");
  }
  ol.scrollTop = ol.scrollHeight;
}

async function inject(text) {
  const t = replay.times[replay.idx] || 0;
  const r = await post("/api/replay/inject", { command: text, t_ns: t });
  if (r.ok === false) { addLine((r.lines || []).join(" "), "command"); return; }
  await loadOverview();
  const idx = replay.times.indexOf(t);
  await showAt(idx < 0 ? replay.idx : idx);
}

function stopPlaying() { if (replay.playing) { clearInterval(replay.playing); replay.playing = null; $("play").textContent = "▶ play"; } }

function startReplay() {
  $("replay-controls").hidden = false;
  $("conn").textContent = "replay"; $("conn").className = "conn ok";
  $("back").onclick = () => { stopPlaying(); showAt(replay.idx - 1); };
  $("forward").onclick = () => { stopPlaying(); showAt(replay.idx + 1); };
  $("scrub").oninput = () => { stopPlaying(); showAt(Number($("scrub").value)); };
  $("play").onclick = () => {
    if (replay.playing) return stopPlaying();
    $("play").textContent = "⏸ pause";
    replay.playing = setInterval(() => {
      if (replay.idx >= replay.times.length - 1) return stopPlaying();
      showAt(replay.idx + 1);
    }, 350);
  };
  $("next-election").onclick = () => {
    stopPlaying();
    const t = replay.times[replay.idx] || 0;
    const next = replay.elections.find((e) => e > t);
    if (next === undefined) { addLine("no election after this instant", "command"); return; }
    showAt(replay.times.indexOf(next));
  };
  $("inject").onclick = () => { stopPlaying(); inject($("inject-cmd").value); };
  $("reset").onclick = async () => { stopPlaying(); await post("/api/replay/reset", {}); await loadOverview(); showAt(replay.idx); };
  $("scenario").onchange = async () => {
    stopPlaying();
    const r = await post("/api/replay/load", { name: $("scenario").value });
    if (r.ok === false) addLine((r.lines || []).join(" "), "command");
    clearPanels(); await loadOverview(); showAt(0);
  };
  $("side-by-side").onchange = async () => {
    stopPlaying();
    const first = replay.overview.protocols[0];
    const protocols = $("side-by-side").checked ? ["raft", "zab", "paxos"] : [first];
    await post("/api/replay/protocols", { protocols });
    await loadOverview(); showAt(replay.idx);
  };
  // #t_ms=T opens the replay at the first instant at or after T (a link to a moment).
  const m = location.hash.match(/t_ms=([0-9.]+)/);
  loadOverview().then(() => {
    const t = m ? Number(m[1]) * 1e6 : 0;
    const idx = replay.times.findIndex((x) => x >= t);
    showAt(idx < 0 ? replay.times.length - 1 : idx);
  });
}

// ---------------------------------------------------------------- start

fetch("/api/mode").then((r) => r.json()).then((m) => {
  mode = m.mode;
  if (mode === "replay") startReplay(); else startLive();
});
