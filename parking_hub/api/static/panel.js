// The side panel: one lot's counts, its free berths today and ahead, and a grid of its berths,
// each free, occupied or unknown.

import { drawCurve, HORIZONS, midnight } from "./curve.js";
import { lotBerths, lotDetail, lotForecast, lotHistory } from "./feed.js";
import { age, count } from "./format.js";
import { ACCESSIBLE_MARK, BERTH_COLOURS, BERTH_WORDS, bucketOf, EV_MARK } from "./palette.js";

const REFETCH_MS = 1000; // a busy lot's berths are fetched again at most this often
const $ = (id) => document.getElementById(id);

function setSplit(prefix, c) {
  const total = c.free + c.occupied + c.unknown || 1;
  for (const part of ["free", "occupied", "unknown"]) {
    $(`${prefix}-${part}`).style.width = `${(100 * c[part]) / total}%`;
  }
}

export class LotPanel {
  constructor({ onClose }) {
    this.lot = null;
    this.detail = null;
    this.states = "";
    this.lastFetch = 0;
    this.timer = null;
    this.canvas = $("berths");
    this.layout = null;
    $("panel-close").addEventListener("click", onClose);
    this.canvas.addEventListener("pointermove", (e) => this.hover(e.offsetX, e.offsetY));
    this.canvas.addEventListener("pointerleave", () => ($("berth-tip").hidden = true));
    new ResizeObserver(() => this.drawBerths()).observe($("berth-wrap"));
  }

  async show(lot) {
    this.lot = lot;
    this.detail = null;
    this.states = "";
    $("panel-empty").hidden = lot !== null;
    $("panel-lot").hidden = lot === null;
    if (!lot) return;
    this.render();
    this.drawBerths();
    this.lastFetch = 0;
    this.refresh();
    this.curve(lot);
    try {
      const detail = await lotDetail(lot.id);
      if (this.lot === lot) {
        this.detail = detail;
        this.render();
        this.drawBerths();
      }
    } catch {
      $("lot-meta").textContent = "could not read this lot; it may have left the registry";
    }
  }

  async curve(lot) {
    const svg = $("curve");
    svg.replaceChildren();
    delete svg.dataset.historyPoints;
    $("curve-note").textContent = "";
    const now = Date.now();
    try {
      const [history, ahead] = await Promise.all([
        lotHistory(lot.id, new Date(midnight(now)).toISOString()),
        lotForecast(lot.id, HORIZONS),
      ]);
      if (this.lot !== lot) return;
      drawCurve(svg, lot.capacity, history.points, ahead.forecast, now);
      const in1h = ahead.forecast[3];
      $("curve-note").textContent = `in 1 h: ${Math.round(in1h.free)} free (${Math.round(in1h.low)}–${Math.round(in1h.high)})`;
    } catch {
      $("curve-note").textContent = "unavailable";
    }
  }

  // The selected lot's counts moved: show them now, and the berths after at most REFETCH_MS.
  changed() {
    if (!this.lot) return;
    this.render();
    this.refresh();
  }

  refresh() {
    if (this.timer) return;
    const wait = Math.max(0, this.lastFetch + REFETCH_MS - performance.now());
    this.timer = setTimeout(async () => {
      this.timer = null;
      this.lastFetch = performance.now();
      const lot = this.lot;
      if (!lot) return; // closed meanwhile
      try {
        const berths = await lotBerths(lot.id);
        if (this.lot === lot) {
          this.states = berths.states;
          $("berth-note").textContent = `as of ${new Date().toLocaleTimeString()}`;
          this.drawBerths();
        }
      } catch {
        $("berth-note").textContent = "unavailable";
      }
    }, wait);
  }

  render() {
    const lot = this.lot;
    const bucket = bucketOf(lot);
    $("lot-kind").textContent = `${lot.kind === "on_street" ? "on-street" : "off-street"} · ${bucket.label}`;
    $("lot-kind").style.color = bucket.colour;
    $("lot-name").textContent = lot.name;
    const meta = $("lot-meta");
    meta.replaceChildren();
    const badge = document.createElement("span");
    badge.className = `badge ${lot.online ? "online" : "offline"}`;
    badge.textContent = lot.online ? "online" : "offline";
    const updated = lot.updated_at ? `updated ${age(Date.now() - Date.parse(lot.updated_at))} ago` : "no report yet";
    const operator = this.detail ? ` · operator ${this.detail.operator}` : "";
    meta.append(badge, `${lot.id}${operator} · ${count(lot.capacity)} berths · ${updated}`);
    $("lot-free").textContent = count(lot.free);
    $("lot-occupied").textContent = count(lot.occupied);
    $("lot-unknown").textContent = count(lot.unknown);
    setSplit("lot-split", lot);
    $("lot-features").textContent = this.detail ? this.featureLine() : "";
    $("lot-facts").replaceChildren(...(this.detail ? this.factRows() : []));
  }

  // What a driver needs to know: opening, hours, clearance, access, fee, stay, address.
  factRows() {
    const d = this.detail;
    const open = this.lot.open_now ?? d.open_now;
    const closes = d.closes_at ? `, closes ${new Date(d.closes_at).toLocaleString()}` : "";
    const fee = d.fee;
    const price = fee?.per_hour === 0 ? "free of charge" : fee?.per_hour != null ? `${fee.per_hour} ${fee.currency ?? ""} per hour`.trim() : null;
    const rows = [
      ["open", open ? `open now${closes}` : "closed now"],
      ["hours", d.opening_hours ? `${d.opening_hours}${d.timezone ? ` (${d.timezone})` : ""}` : "always open"],
      ["height", d.max_height_m != null ? `${d.max_height_m} m clearance` : null],
      ["access", d.access !== "public" ? `${d.access} only` : "public"],
      ["fee", fee ? (fee.text ?? price) : "unknown"], // the operator's own words, where given
      ["stay", d.max_stay_min != null ? `at most ${d.max_stay_min} min` : null],
      ["address", d.address ?? null],
    ];
    return rows
      .filter(([, value]) => value)
      .flatMap(([term, value]) => {
        const dt = document.createElement("dt");
        const dd = document.createElement("dd");
        dt.textContent = term;
        dd.textContent = value;
        dd.dataset.fact = term;
        if (term === "open") dd.className = open ? "open" : "closed";
        return [dt, dd];
      });
  }

  featureLine() {
    const parts = [];
    const names = [
      ["ev", "EV"],
      ["accessible", "accessible"],
      ["family", "family"],
      ["carsharing", "car sharing"],
      ["motorcycle", "motorcycle"],
      ["truck", "truck"],
      ["bus", "bus"],
    ];
    for (const [name, label] of names) {
      const f = this.detail.features[name];
      if (f && f.berths.length) parts.push(`${label}: ${count(f.free)} of ${count(f.berths.length)} free`);
    }
    return parts.join(" · ");
  }

  // -- the berth grid -----------------------------------------------------------------------

  drawBerths() {
    const canvas = this.canvas;
    const n = this.lot ? this.lot.capacity : 0;
    const width = canvas.clientWidth;
    if (!n || !width) return;
    // Cells as large as fit up to ~360 px of height, between 3 and 16 px.
    const cell = Math.max(3, Math.min(16, Math.floor(Math.sqrt((width * 360) / n))));
    const gap = cell >= 8 ? 2 : 1;
    const perRow = Math.max(1, Math.floor((width + gap) / (cell + gap)));
    const rows = Math.ceil(n / perRow);
    const height = rows * (cell + gap);
    const dpr = window.devicePixelRatio || 1;
    canvas.style.height = `${height}px`;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.layout = { cell, gap, perRow };
    const ev = new Set(this.detail?.features.ev?.berths ?? []);
    const accessible = new Set(this.detail?.features.accessible?.berths ?? []);
    const byColour = { f: [], o: [], u: [] };
    for (let i = 0; i < n; i += 1) byColour[this.states[i] ?? "u"].push(i);
    const at = (i) => [(i % perRow) * (cell + gap), Math.floor(i / perRow) * (cell + gap)];
    for (const [state, berths] of Object.entries(byColour)) {
      ctx.fillStyle = BERTH_COLOURS[state];
      for (const i of berths) {
        const [x, y] = at(i);
        ctx.fillRect(x, y, cell, cell);
      }
    }
    if (cell >= 6) {
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = EV_MARK;
      for (const i of ev) {
        const [x, y] = at(i);
        ctx.strokeRect(x + 0.75, y + 0.75, cell - 1.5, cell - 1.5);
      }
      ctx.fillStyle = ACCESSIBLE_MARK;
      for (const i of accessible) {
        const [x, y] = at(i);
        ctx.fillRect(x, y + cell - 3, cell, 3);
      }
    }
    canvas.dataset.berths = String(this.states.length);
  }

  hover(x, y) {
    const tip = $("berth-tip");
    if (!this.layout || !this.lot) return;
    const { cell, gap, perRow } = this.layout;
    const col = Math.floor(x / (cell + gap));
    const i = Math.floor(y / (cell + gap)) * perRow + col;
    if (col >= perRow || i >= this.lot.capacity) {
      tip.hidden = true;
      return;
    }
    const tags = [];
    if (this.detail?.features.ev?.berths.includes(i)) tags.push("EV");
    if (this.detail?.features.accessible?.berths.includes(i)) tags.push("accessible");
    tip.textContent = `berth ${i} · ${BERTH_WORDS[this.states[i] ?? "u"]}${tags.length ? ` · ${tags.join(", ")}` : ""}`;
    tip.style.left = `${Math.min(x + 12, this.canvas.clientWidth - 150)}px`;
    tip.style.top = `${y + 14}px`;
    tip.hidden = false;
  }
}
