// The live dashboard: wires the map, the feed, the panel and the header together.

import { allLots, LiveFeed, STREAM_LIMIT, summary } from "./feed.js";
import { age, count, rate } from "./format.js";
import { CityMap } from "./map.js";
import { bucketOf, DRAW_ORDER, LEGEND_ORDER } from "./palette.js";
import { LotPanel } from "./panel.js";
import { TileLayer } from "./tiles.js";

const SUMMARY_MS = 2000; // header refresh; the ingest rate is the change in events over this period
const RATE_SAMPLES = 30; // the sparkline's memory: a minute
const FRESH_MS = 5000; // newest event younger than this: green; younger than STALE_MS: amber
const STALE_MS = 60_000;
const LAG_LIMIT_S = 5; // ingest lag above this: amber, as /readyz turns 503
const TOP_LOTS = 8;
const LEGEND_MS = 500; // the legend's counts follow live changes at most this often
const $ = (id) => document.getElementById(id);

const lots = new Map(); // lot id -> the lot's registry fields and live counts
let rates = [];
let lastSummary = null;

const map = new CityMap($("map"), {
  covers: [...document.querySelectorAll("#map-wrap .map-controls, #map-wrap .legend"), $("attribution")],
  onSelect: (lot) => select(lot),
  onHover: (lot, x, y) => showTooltip(lot, x, y),
  onViewChange: () => scheduleFollow(),
});
const panel = new LotPanel({ onClose: () => select(null) });
const feed = new LiveFeed({ onCounts: applyCounts, onState: showFeedState });

function select(lot) {
  map.selected = lot;
  map.requestDraw();
  panel.show(lot);
}

function showTooltip(lot, x, y) {
  const tip = $("tooltip");
  if (!lot) {
    tip.hidden = true;
    return;
  }
  const bucket = bucketOf(lot);
  tip.innerHTML = "";
  const name = document.createElement("b");
  name.textContent = lot.name;
  const line = document.createElement("div");
  line.textContent = `${count(lot.free)} free of ${count(lot.capacity)} · ${count(lot.unknown)} unknown`;
  const state = document.createElement("div");
  state.className = "muted";
  state.textContent = `${lot.id} · ${bucket.label}${lot.online ? "" : " · offline"}`;
  state.style.color = bucket.colour;
  tip.append(name, line, state);
  tip.style.left = `${Math.min(x + 14, map.width - 260)}px`;
  tip.style.top = `${y + 14}px`;
  tip.hidden = false;
}

// -- live counts --------------------------------------------------------------------------

function applyCounts(rows) {
  const now = performance.now();
  let unknownLot = false;
  for (const row of rows) {
    const lot = lots.get(row.lot_id);
    if (!lot) {
      unknownLot = true;
      continue;
    }
    const before = bucketOf(lot);
    Object.assign(lot, row);
    if (bucketOf(lot) !== before) lot.changedAt = now; // a ring spreads from a lot that changed colour
    if (lot === map.selected) panel.changed();
  }
  map.requestDraw();
  legendSoon();
  if (unknownLot) reloadRegistry(); // the registry grew since the page loaded it
}

function showFeedState(state, note) {
  const dot = { live: "ok", polling: "info", connecting: "warn", reconnecting: "warn" }[state] ?? "bad";
  $("feed-dot").className = `dot ${dot}`;
  $("feed-state").textContent = state;
  $("feed-note").textContent = note;
}

let followTimer = null;
function scheduleFollow() {
  clearTimeout(followTimer);
  followTimer = setTimeout(follow, 300);
}

function follow() {
  if (lots.size <= STREAM_LIMIT) {
    feed.follow([-180, -90, 180, 90], lots.size); // one stream for the whole registry
    return;
  }
  const [west, south, east, north] = map.visibleBox();
  // Round the box outwards a little (a 32nd of its width) so small pans reuse the same stream.
  const grid = Math.max((east - west) / 32, 1e-5);
  const box = [
    Math.max(-180, Math.floor(west / grid) * grid),
    Math.max(-90, Math.floor(south / grid) * grid),
    Math.min(180, Math.ceil(east / grid) * grid),
    Math.min(90, Math.ceil(north / grid) * grid),
  ].map((v) => Number(v.toFixed(6)));
  let inBox = 0;
  for (const lot of lots.values()) {
    if (lot.lon >= box[0] && lot.lon <= box[2] && lot.lat >= box[1] && lot.lat <= box[3]) inBox += 1;
  }
  feed.follow(box, inBox);
}

// -- the registry -------------------------------------------------------------------------

let reloading = null;
async function reloadRegistry() {
  reloading ??= (async () => {
    const loading = $("loading");
    try {
      const rows = await allLots((n) => (loading.textContent = `loading lots… ${count(n)}`));
      const first = lots.size === 0;
      const next = new Map(rows.map((row) => [row.lot_id, { ...lots.get(row.lot_id), ...row, id: row.lot_id }]));
      lots.clear();
      for (const [id, lot] of next) lots.set(id, lot);
      map.setLots([...lots.values()]);
      if (map.selected) select(lots.get(map.selected.id) ?? null);
      if (first) map.fit();
      loading.hidden = rows.length > 0;
      if (!rows.length) loading.textContent = "no lots in the registry yet";
      document.body.dataset.lots = String(lots.size);
      renderLegend();
      follow();
    } catch (err) {
      loading.textContent = `could not load the lots (${err.message}); retrying`;
      setTimeout(reloadRegistry, 3000);
    } finally {
      reloading = null;
    }
  })();
  return reloading;
}

// -- header -------------------------------------------------------------------------------

async function refreshSummary() {
  try {
    const s = await summary();
    $("total-lots").textContent = count(s.lots);
    // Lots removed from the registry (or added without a change to stream) change the count.
    if (s.lots !== lots.size && !reloading) reloadRegistry();
    $("total-berths").textContent = count(s.berths);
    $("total-free").textContent = count(s.free);
    $("total-occupied").textContent = count(s.occupied);
    $("total-unknown").textContent = count(s.unknown);
    for (const part of ["free", "occupied", "unknown"]) {
      $(`split-${part}`).style.width = `${(100 * s[part]) / (s.berths || 1)}%`;
    }
    const asOf = Date.parse(s.as_of);
    if (lastSummary && asOf > lastSummary.at) {
      const perSecond = (1000 * Math.max(0, s.events_applied - lastSummary.applied)) / (asOf - lastSummary.at);
      rates = [...rates, perSecond].slice(-RATE_SAMPLES);
      $("ingest-rate").textContent = rate(perSecond);
      drawSparkline();
    }
    lastSummary = { at: asOf, applied: s.events_applied };
    // Age by the server's own clock: as_of and last_event_at come from the same place.
    const ageMs = s.last_event_at ? asOf - Date.parse(s.last_event_at) : null;
    $("fresh-age").textContent = ageMs === null ? "no events yet" : age(ageMs);
    $("fresh-dot").className = `dot ${ageMs === null ? "" : ageMs < FRESH_MS ? "ok" : ageMs < STALE_MS ? "warn" : "bad"}`;
    $("fresh-note").textContent = `newest event · ${count(s.events_rejected)} rejected`;
    showLag(s.ingest_lag_s, s.ingest_processes);
    if (!map.selected) renderTopFree();
  } catch {
    $("fresh-dot").className = "dot bad";
    $("fresh-age").textContent = "hub unreachable";
    $("ingest-lag").textContent = "–";
  }
}

// The slowest ingest process's lag; no process reporting is a warning too.
function showLag(lagS, processes) {
  const lagging = lagS === null || lagS > LAG_LIMIT_S;
  $("ingest-lag").textContent = lagS === null ? "none reporting" : age(1000 * lagS);
  $("lag-dot").className = `dot ${lagging ? "warn" : "ok"}`;
  $("lag-stat").classList.toggle("lagging", lagging);
  $("lag-note").textContent = `${count(processes)} ingest process${processes === 1 ? "" : "es"}`;
}

function drawSparkline() {
  const canvas = $("rate-spark");
  const ctx = canvas.getContext("2d");
  const dpr = window.devicePixelRatio || 1;
  const [w, h] = [canvas.clientWidth, canvas.clientHeight];
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = "rgba(94, 176, 239, 0.12)";
  ctx.fillRect(0, h - 1, w, 1); // the baseline, so a young sparkline still reads as a chart
  const top = Math.max(...rates, 1);
  const step = w / (RATE_SAMPLES - 1);
  const x0 = w - step * (rates.length - 1);
  ctx.beginPath();
  rates.forEach((r, k) => ctx.lineTo(x0 + k * step, h - 2 - (r / top) * (h - 4)));
  ctx.strokeStyle = "#5eb0ef";
  ctx.lineWidth = 1.5;
  ctx.stroke();
  ctx.lineTo(w, h);
  ctx.lineTo(x0, h);
  ctx.fillStyle = "rgba(94, 176, 239, 0.15)";
  ctx.fill();
}

let legendTimer = null;
function legendSoon() {
  legendTimer ??= setTimeout(() => {
    legendTimer = null;
    renderLegend();
  }, LEGEND_MS);
}

// Built through the DOM, not innerHTML: the page's Content-Security-Policy refuses style attributes.
function swatch(colour) {
  const i = document.createElement("i");
  i.style.background = colour;
  return i;
}

function span(text, className = "") {
  const s = document.createElement("span");
  s.textContent = text;
  s.className = className;
  return s;
}

function renderLegend() {
  const tally = new Map(DRAW_ORDER.map((b) => [b, 0]));
  for (const lot of lots.values()) {
    const b = bucketOf(lot);
    tally.set(b, tally.get(b) + 1);
  }
  const items = LEGEND_ORDER.map((b) => {
    const li = document.createElement("li");
    li.replaceChildren(swatch(b.colour), span(b.label), span(count(tally.get(b)), "count"));
    return li;
  });
  $("legend-items").replaceChildren(...items);
}

function renderTopFree() {
  const best = [...lots.values()]
    .filter((lot) => lot.online && lot.free > 0)
    .sort((a, b) => b.free - a.free || a.id.localeCompare(b.id))
    .slice(0, TOP_LOTS);
  const items = best.map((lot) => {
    const li = document.createElement("li");
    li.replaceChildren(swatch(bucketOf(lot).colour), span(lot.name, "name"), span(count(lot.free), "n"));
    li.addEventListener("click", () => {
      map.centreOn(lot);
      select(lot);
    });
    return li;
  });
  $("top-free").replaceChildren(...items);
}

// -- start --------------------------------------------------------------------------------

$("zoom-in").addEventListener("click", () => map.zoom(2));
$("zoom-out").addEventListener("click", () => map.zoom(0.5));
$("zoom-fit").addEventListener("click", () => map.fit());
window.addEventListener("keydown", (e) => {
  if (e.key === "Escape") select(null);
});

// The street map, when the operator names a tile server: the page carries its URL.
function showStreetMap({ tiles, attribution }) {
  if (!tiles) return;
  $("tiles").hidden = false;
  map.setTiles(new TileLayer($("tiles"), tiles, () => map.requestDraw()));
  $("attribution").textContent = attribution;
  $("attribution").hidden = !attribution;
}

// District labels, for the city we ship them for, when its lots are the ones on the map.
async function labelDistricts() {
  const d = await (await fetch("/static/districts.json")).json();
  const near = (district) =>
    [...lots.values()].some((lot) => Math.abs(lot.lat - district.lat) < 0.2 && Math.abs(lot.lon - district.lon) < 0.2);
  const shown = d.districts.filter(near);
  map.setDistricts(shown);
  if (shown.length) $("city-name").textContent = `${d.city} · live availability`;
}

// For tests and scripts: where a lot is drawn, in CSS pixels of the map canvas.
window.parkingDashboard = {
  pointOf(id) {
    const lot = lots.get(id);
    return lot ? map.project(lot.lon, lot.lat) : null;
  },
  select(id) {
    select(lots.get(id) ?? null);
  },
  // Every text drawn on the map, with its box: {text, kind, left, top, right, bottom}.
  labels() {
    return map.labels;
  },
};

await reloadRegistry();
showStreetMap($("map-wrap").dataset); // after the map has its view, so no tiles of the whole world load
labelDistricts().catch(() => {});
refreshSummary();
setInterval(refreshSummary, SUMMARY_MS);
