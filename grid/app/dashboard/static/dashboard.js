// gridsim live map: reads the server's event stream (/events) and draws the grid on a Leaflet map
// over the vendored base map. Events are queued as they arrive and applied once per animation
// frame, so a burst of messages costs one redraw; report markers are capped and expire.
// State is also exposed as DOM attributes (data-status, data-track-id) for tests and tools.
"use strict";
(function () {
  const MAX_REPORTS = 300; // report markers drawn at once (the oldest go first)
  const REPORT_TTL_MS = 6000; // a report fades out over this long
  const FADE_EVERY_MS = 250;
  const MAX_ALERTS = 40;
  const MAX_INDICATORS = 30;
  const FRAME_SAMPLES = 20000;

  const map = L.map("map", { attributionControl: false, zoomSnap: 0.25, preferCanvas: false });
  map.setView([44.0, 27.0], 6);
  const svg = L.svg({ padding: 0.2 });
  const canvas = L.canvas({ padding: 0.2 }); // many short-lived report markers: cheaper than SVG
  // The countries on a canvas of their own: a report drawn or faded repaints only its own canvas.
  const baseCanvas = L.canvas({ padding: 0.2 });

  // ------------------------------------------------------------------ frame time, measured here
  const frames = { deltas: [], work: [], last: 0, events: 0 };
  function pct(sorted, p) {
    if (!sorted.length) return null;
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }
  function summary(values) {
    const s = values.slice().sort((a, b) => a - b);
    const r = (v) => (v === null ? null : Math.round(v * 100) / 100);
    return { count: s.length, p50: r(pct(s, 50)), p95: r(pct(s, 95)), max: r(s.length ? s[s.length - 1] : null) };
  }
  window.gridsimFrames = () => ({ frame_ms: summary(frames.deltas), work_ms: summary(frames.work), events: frames.events });
  window.gridsimFramesReset = () => { frames.deltas = []; frames.work = []; frames.events = 0; frames.last = 0; };
  function sample(list, value) { if (list.length >= FRAME_SAMPLES) list.shift(); list.push(value); }

  // ------------------------------------------------------------------------------ base layers
  fetch("/basemap.geojson").then((r) => r.json()).then((geo) => {
    L.geoJSON(geo, { renderer: baseCanvas, interactive: false,
      style: { color: "#7d8793", weight: 0.8, fillColor: "#eef0e8", fillOpacity: 1 } }).addTo(map).bringToBack();
  });

  const sites = {}; // node -> [circle marker]
  const nodeItems = {}; // node -> <li>
  const statusOf = {};
  const nodesList = document.getElementById("nodes");
  const servicesList = document.getElementById("services");
  fetch("/sites.json").then((r) => r.json()).then((list) => {
    const bounds = [];
    for (const s of list) {
      const m = L.circleMarker(s.at, { renderer: svg, radius: s.airborne ? 6 : 5, weight: s.airborne ? 2 : 1,
        dashArray: s.airborne ? "2 2" : null, color: "#1e3d2f", fillColor: "#c9ccd1", fillOpacity: 0.95,
        className: "site" }).addTo(map);
      m.bindTooltip(`${s.sensor} (${s.name}, ${s.kind})`);
      const el = m.getElement();
      el.setAttribute("data-node", s.node);
      el.setAttribute("data-sensor", s.sensor);
      (sites[s.node] = sites[s.node] || []).push(m);
      nodeItem(s.node, s.name);
      bounds.push(s.at);
    }
    if (bounds.length) map.fitBounds(bounds, { padding: [20, 20] });
    connect(); // after the sites: a status then finds its node's markers
  });

  function nodeItem(node, name) {
    if (nodeItems[node]) return nodeItems[node];
    const li = document.createElement("li");
    li.textContent = node;
    li.title = name || node;
    li.setAttribute("data-node", node);
    li.setAttribute("data-status", "unknown");
    nodeItems[node] = li;
    const list = name === undefined ? servicesList : nodesList;
    const after = [...list.children].find((c) => c.textContent > node);
    list.insertBefore(li, after || null);
    return li;
  }
  const NODE_COLOURS = { online: "#2e8b57", running: "#2e8b57", offline: "#8a8f98" };
  function paintNode(node) {
    const state = statusOf[node] || "unknown";
    nodeItem(node).setAttribute("data-status", state);
    for (const m of sites[node] || []) {
      m.setStyle({ fillColor: NODE_COLOURS[state] || "#c9ccd1", opacity: state === "offline" ? 0.5 : 1 });
      m.getElement().setAttribute("data-status", state);
    }
  }

  // ------------------------------------------------------------------------------- reports
  const reports = []; // {layer, born}
  function addScan(e, now) {
    const style = { renderer: canvas, interactive: false };
    for (const p of e.plots) {
      reports.push({ layer: L.circleMarker(p, { ...style, radius: 3, weight: 1, color: "#b3560f",
        fillColor: "#e0731f", fillOpacity: 0.9 }).addTo(map), born: now });
    }
    for (const to of e.rays) {
      reports.push({ layer: L.polyline([e.from, to], { ...style, weight: 1, color: "#3a6fd8", opacity: 0.7 })
        .addTo(map), born: now });
    }
    while (reports.length > MAX_REPORTS) map.removeLayer(reports.shift().layer);
  }
  let lastFade = 0;
  function fadeReports(now) {
    if (now - lastFade < FADE_EVERY_MS) return;
    lastFade = now;
    while (reports.length && now - reports[0].born > REPORT_TTL_MS) map.removeLayer(reports.shift().layer);
    for (const r of reports) {
      const left = 1 - (now - r.born) / REPORT_TTL_MS;
      const o = Math.max(0.1, left);
      r.layer.setStyle(r.layer instanceof L.CircleMarker ? { opacity: o, fillOpacity: 0.9 * o } : { opacity: 0.7 * o });
    }
  }

  // -------------------------------------------------------------------------------- tracks
  const tracks = {}; // id -> {marker, ellipse, li}
  const tracksList = document.getElementById("tracks");
  function ellipsePoints(at, [major, minor, bearing]) {
    const pts = [];
    const phi = ((90 - bearing) * Math.PI) / 180; // major axis, counter-clockwise from east
    const mPerLat = 111320, mPerLon = 111320 * Math.cos((at[0] * Math.PI) / 180);
    const a = Math.max(major, 5), b = Math.max(minor, 5);
    for (let i = 0; i < 36; i++) {
      const t = (i / 36) * 2 * Math.PI;
      const east = a * Math.cos(t) * Math.cos(phi) - b * Math.sin(t) * Math.sin(phi);
      const north = a * Math.cos(t) * Math.sin(phi) + b * Math.sin(t) * Math.cos(phi);
      pts.push([at[0] + north / mPerLat, at[1] + east / mPerLon]);
    }
    return pts;
  }
  function putTrack(e) {
    let t = tracks[e.id];
    if (e.status === "deleted") {
      if (t) { map.removeLayer(t.marker); map.removeLayer(t.ellipse); t.li.remove(); delete tracks[e.id]; }
      return;
    }
    const colour = e.status === "confirmed" ? "#d0103a" : "#e08a00";
    if (!t) {
      const marker = L.circleMarker(e.at, { renderer: svg, radius: 5, weight: 2, color: colour, fillColor: "#fff",
        fillOpacity: 1, className: "track" }).addTo(map);
      marker.bindTooltip(e.id, { permanent: true, direction: "right", offset: [6, 0], className: "track-label" });
      const ellipse = L.polygon(ellipsePoints(e.at, e.ellipse), { renderer: svg, weight: 1, color: colour,
        fillOpacity: 0.12, interactive: false, className: "track-ellipse" }).addTo(map);
      const li = document.createElement("li");
      tracksList.appendChild(li);
      t = tracks[e.id] = { marker, ellipse, li };
      marker.getElement().setAttribute("data-track-id", e.id);
      ellipse.getElement().setAttribute("data-track-id", e.id);
    } else {
      t.marker.setLatLng(e.at);
      t.ellipse.setLatLngs(ellipsePoints(e.at, e.ellipse));
    }
    t.marker.setStyle({ color: colour });
    t.ellipse.setStyle({ color: colour });
    t.marker.getElement().setAttribute("data-status", e.status);
    t.li.setAttribute("data-track-id", e.id);
    t.li.setAttribute("data-status", e.status);
    t.li.textContent = `${e.id} ${e.status[0]} ${e.speed_mps} m/s ${e.course_deg}° ±${Math.round(e.ellipse[0])} m`;
  }
  function clearPicture() {
    for (const id of Object.keys(tracks)) putTrack({ id, status: "deleted" });
    while (reports.length) map.removeLayer(reports.shift().layer);
    alertsList.textContent = "";
    indicatorsList.textContent = "";
    indicatorCount = 0;
  }

  // --------------------------------------------------------------------- alerts, indicators
  const alertsList = document.getElementById("alerts");
  const indicatorsList = document.getElementById("indicators");
  let indicatorCount = 0;
  function prepend(list, li, max) { list.insertBefore(li, list.firstChild); while (list.children.length > max) list.lastChild.remove(); }
  function addAlert(e) {
    const li = document.createElement("li");
    li.className = e.level;
    li.textContent = (e.t === null ? "" : `t=${e.t}s `) + e.text;
    prepend(alertsList, li, MAX_ALERTS);
  }
  function addIndicator(e) {
    const li = document.createElement("li");
    li.setAttribute("data-key", e.key || "");
    li.textContent = `${e.name || e.key || e.id} `;
    const code = document.createElement("code");
    code.textContent = e.pattern;
    li.appendChild(code);
    prepend(indicatorsList, li, MAX_INDICATORS);
    indicatorCount += 1;
  }

  // ------------------------------------------------------------------------- run and stats
  let run = null;
  let lastSimT = null;
  const stats = {};
  function simTime() {
    if (!run || run.action !== "start") return lastSimT;
    const t = Math.max(0, ((Date.now() - run.epoch_ms) / 1000) * run.speed);
    return run.duration_s ? Math.min(t, run.duration_s) : t;
  }
  function setRun(e) {
    if (!run || run.run !== e.run) clearPicture();
    else if (!e.name) e = { ...e, name: run.name, duration_s: run.duration_s }; // an end names no scenario
    run = e;
    document.body.setAttribute("data-run", e.run);
    document.body.setAttribute("data-run-state", e.action);
    document.getElementById("run-name").textContent = `${e.name} ×${e.speed} (${e.action === "end" ? "ended" : "live"})`;
  }

  // ----------------------------------------------------------------------- the event stream
  let pending = [];
  function connect() {
    const source = new EventSource("/events");
    source.onopen = () => { document.body.setAttribute("data-connected", "true"); conn.textContent = "live"; };
    source.onerror = () => { document.body.setAttribute("data-connected", "false"); conn.textContent = "reconnecting"; };
    source.onmessage = (m) => { for (const e of JSON.parse(m.data)) pending.push(e); };
  }
  const conn = document.getElementById("conn");

  function apply(batch, now) {
    // Only the latest of each track and node status in a batch is drawn.
    const latestTrack = new Map();
    const latestStatus = new Map();
    for (const e of batch) {
      switch (e.k) {
        case "track": latestTrack.set(e.id, e); if (lastSimT === null || e.t > lastSimT) lastSimT = e.t; break;
        case "status": latestStatus.set(e.node, e); break;
        case "scan": addScan(e, now); if (lastSimT === null || e.t > lastSimT) lastSimT = e.t; break;
        case "run": setRun(e); latestTrack.clear(); break;
        case "alert": addAlert(e); break;
        case "indicator": addIndicator(e); break;
        case "stats": Object.assign(stats, e); break;
        case "broker": conn.textContent = "broker lost"; break;
      }
    }
    for (const e of latestStatus.values()) { statusOf[e.node] = e.state; paintNode(e.node); }
    for (const e of latestTrack.values()) putTrack(e);
  }

  function frame(now) {
    if (frames.last) sample(frames.deltas, now - frames.last);
    frames.last = now;
    const start = performance.now();
    if (pending.length) {
      const batch = pending;
      pending = [];
      frames.events += batch.length;
      apply(batch, now);
    }
    fadeReports(now);
    const t = simTime();
    if (t !== null) document.getElementById("sim-time").textContent = `t = ${t.toFixed(1)} s`;
    const n = Object.keys(tracks).length;
    document.getElementById("track-count").textContent = n;
    document.getElementById("indicator-count").textContent = indicatorCount;
    document.body.setAttribute("data-tracks", n);
    sample(frames.work, performance.now() - start);
    requestAnimationFrame(frame);
  }
  let lastStats = 0;
  setInterval(() => {
    if (stats.wall_ms === lastStats) return;
    lastStats = stats.wall_ms;
    const f = window.gridsimFrames().frame_ms;
    document.getElementById("stats").textContent =
      `messages ${stats.received}, rejected ${JSON.stringify(stats.rejected || {})}\n` +
      `pages ${stats.pages}, events dropped ${stats.dropped}, reports drawn ${reports.length}\n` +
      `frame ms p50 ${f.p50} p95 ${f.p95} max ${f.max}`;
  }, 1000);
  requestAnimationFrame(frame);
})();
