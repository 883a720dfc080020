// gridsim live map: reads the server's event stream (/events) and draws the grid on a Leaflet map
// over the vendored base map. Events are queued as they arrive and applied once per animation
// frame, so a burst of messages costs one redraw; report markers are capped and expire.
// State is also exposed as DOM attributes (data-status, data-track-id) for tests and tools.
"use strict";
(function () {
  const MAX_REPORTS = 300; // report markers drawn at once (the oldest go first)
  const REPORT_TTL_MS = 6000; // a report fades out over this long
  const FADE_EVERY_MS = 100; // and is repainted this often while it does
  const MAX_ALERTS = 40;
  const MAX_INDICATORS = 30;
  const FRAME_SAMPLES = 20000;

  const map = L.map("map", { attributionControl: false, zoomSnap: 0.25, preferCanvas: false });
  map.setView([44.0, 27.0], 6);
  const svg = L.svg({ padding: 0.2 });
  // The countries on a canvas of their own: a report drawn or faded repaints only its own canvas.
  // Its pane sits under the overlays whichever layer loads first.
  map.createPane("base").style.zIndex = 250;
  const baseCanvas = L.canvas({ padding: 0.2, pane: "base" });

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

  // Two buttons: the whole grid, or the tracks up close (a swarm is one blob at the grid's scale).
  const siteBounds = [];
  const Fit = L.Control.extend({
    onAdd() {
      const box = L.DomUtil.create("div", "leaflet-bar fit");
      for (const [label, title, bounds] of [["grid", "all sites", () => siteBounds],
        ["tracks", "the confirmed tracks", () => {
          const all = Object.values(tracks);
          const firm = all.filter((t) => t.latest && t.latest.status === "confirmed");
          return (firm.length ? firm : all).map((t) => t.marker.getLatLng());
        }]]) {
        const a = L.DomUtil.create("a", "", box);
        a.textContent = label; a.title = `zoom to ${title}`; a.href = "#"; a.setAttribute("role", "button");
        L.DomEvent.on(a, "click", (ev) => {
          L.DomEvent.preventDefault(ev);
          const b = bounds();
          if (b.length) map.fitBounds(L.latLngBounds(b).pad(0.3), { maxZoom: 13 });
        });
        L.DomEvent.disableClickPropagation(a);
      }
      return box;
    },
  });
  new Fit({ position: "topleft" }).addTo(map);

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
    const bounds = siteBounds;
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
  // Reports are drawn on one canvas of our own over the map, repainted at most once a frame: a
  // burst of scans costs one repaint, and fading is a per-report alpha, not a restyled layer each.
  const reports = []; // {plot: [lat, lon]} or {from, to}, with born (ms)
  const layer = document.createElement("canvas");
  layer.className = "reports";
  // In a pane between the countries and the sites and tracks, placed at the view's corner at each repaint.
  const reportsPane = map.createPane("reports");
  reportsPane.style.zIndex = 350;
  reportsPane.style.pointerEvents = "none";
  reportsPane.appendChild(layer);
  let dirty = false;
  function fitLayer() {
    const size = map.getSize(), ratio = window.devicePixelRatio || 1;
    layer.width = size.x * ratio; layer.height = size.y * ratio;
    layer.style.width = `${size.x}px`; layer.style.height = `${size.y}px`;
    dirty = true;
  }
  fitLayer();
  map.on("resize", fitLayer);
  map.on("move zoomend viewreset", () => { dirty = true; });
  map.on("zoomstart", () => { layer.style.visibility = "hidden"; });
  map.on("zoomend", () => { layer.style.visibility = "visible"; });
  function addScan(e, now) {
    for (const p of e.plots) reports.push({ plot: p, born: now });
    for (const to of e.rays) reports.push({ from: e.from, to, born: now });
    if (reports.length > MAX_REPORTS) reports.splice(0, reports.length - MAX_REPORTS);
    dirty = true;
  }
  let lastFade = 0;
  function drawReports(now) {
    while (reports.length && now - reports[0].born > REPORT_TTL_MS) { reports.shift(); dirty = true; }
    if (now - lastFade >= FADE_EVERY_MS && reports.length) { lastFade = now; dirty = true; }
    if (!dirty) return;
    dirty = false;
    L.DomUtil.setPosition(layer, map.containerPointToLayerPoint([0, 0]));
    const ctx = layer.getContext("2d"), ratio = window.devicePixelRatio || 1;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, layer.width, layer.height);
    ctx.lineWidth = 1;
    for (const r of reports) {
      ctx.globalAlpha = Math.max(0.1, 1 - (now - r.born) / REPORT_TTL_MS);
      if (r.plot) {
        const p = map.latLngToContainerPoint(r.plot);
        ctx.fillStyle = "#e0731f"; ctx.strokeStyle = "#b3560f";
        ctx.beginPath(); ctx.arc(p.x, p.y, 3, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
      } else {
        const a = map.latLngToContainerPoint(r.from), b = map.latLngToContainerPoint(r.to);
        ctx.strokeStyle = "rgba(58, 111, 216, 0.7)";
        ctx.beginPath(); ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y); ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
    document.body.setAttribute("data-reports", reports.length);
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
    t.latest = e;
  }
  // The list after the map: a tooltip placed reads the layout, which a list changed before it would
  // force the browser to recompute once per track.
  function listTrack(e) {
    const t = tracks[e.id];
    if (!t) return;
    t.li.setAttribute("data-track-id", e.id);
    t.li.setAttribute("data-status", e.status);
    t.li.textContent = `${e.id} ${e.status[0]} ${e.speed_mps} m/s ${e.course_deg}° ±${Math.round(e.ellipse[0])} m`;
  }
  function clearPicture() {
    for (const id of Object.keys(tracks)) putTrack({ id, status: "deleted" });
    reports.length = 0;
    dirty = true;
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
    // Only the latest of each track and node status in a batch is drawn; the map first, then the lists.
    const latestTrack = new Map();
    const latestStatus = new Map();
    const alerts = [], indicators = [];
    for (const e of batch) {
      switch (e.k) {
        case "track": latestTrack.set(e.id, e); if (lastSimT === null || e.t > lastSimT) lastSimT = e.t; break;
        case "status": latestStatus.set(e.node, e); break;
        case "scan": addScan(e, now); if (lastSimT === null || e.t > lastSimT) lastSimT = e.t; break;
        case "run": setRun(e); latestTrack.clear(); alerts.length = 0; indicators.length = 0; break;
        case "alert": alerts.push(e); break;
        case "indicator": indicators.push(e); break;
        case "stats": Object.assign(stats, e); break;
        case "broker": conn.textContent = "broker lost"; break;
      }
    }
    for (const e of latestTrack.values()) putTrack(e);
    for (const e of latestStatus.values()) { statusOf[e.node] = e.state; paintNode(e.node); }
    for (const e of latestTrack.values()) listTrack(e);
    for (const e of alerts.slice(-MAX_ALERTS)) addAlert(e);
    for (const e of indicators.slice(-MAX_INDICATORS)) addIndicator(e);
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
    drawReports(now);
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
