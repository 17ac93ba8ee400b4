// The city map on one canvas: a plain equirectangular map (no tiles exist offline) with a
// graticule, a scale bar, district labels where we ship them, and every lot as a dot sized by
// capacity and coloured by availability. One path per colour keeps 50,000 lots cheap to draw.

import { bucketOf, DRAW_ORDER } from "./palette.js";

const METRES_PER_DEGREE = 111_195; // of latitude, on the mean Earth radius
const PULSE_MS = 1600; // how long a changed lot's ring keeps spreading
const MIN_SCALE = 0.02; // pixels per degree: the whole Earth fits
const MAX_SCALE = 5_000_000; // a few centimetres per pixel
const NICE_STEPS = [1, 2, 5];
const FIT_MARGIN = 48; // pixels left around the city when it is fitted to the map
// With many lots in view, outlines and round dots cost more to rasterise than they show.
const CROWDED_ABOVE = 5000;
const SQUARE_BELOW_PX = 2.5;

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  const mantissa = NICE_STEPS.find((m) => m * power >= raw);
  return (mantissa ?? 10) * power;
}

export class CityMap {
  constructor(canvas, { onSelect, onHover, onViewChange }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.lots = [];
    this.districts = [];
    this.selected = null;
    this.hovered = null;
    this.view = { lon: 0, lat: 0, scale: 1, kx: 1 };
    this.fitScale = 1;
    this.onSelect = onSelect;
    this.onHover = onHover;
    this.onViewChange = onViewChange;
    this.pending = false;
    this.pulsing = 0;
    this.minRadius = 3.5;
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.listen();
    this.resize();
  }

  setLots(lots) {
    this.lots = lots;
    this.requestDraw();
  }

  setDistricts(districts) {
    this.districts = districts;
    this.requestDraw();
  }

  // -- the view -----------------------------------------------------------------------------

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const { clientWidth: w, clientHeight: h } = this.canvas;
    this.width = w;
    this.height = h;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.requestDraw();
  }

  fit() {
    if (!this.lots.length) return;
    let [west, east, south, north] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const lot of this.lots) {
      west = Math.min(west, lot.lon);
      east = Math.max(east, lot.lon);
      south = Math.min(south, lot.lat);
      north = Math.max(north, lot.lat);
    }
    const lat = (south + north) / 2;
    const kx = Math.cos((lat * Math.PI) / 180);
    const spanX = Math.max((east - west) * kx, 0.002);
    const spanY = Math.max(north - south, 0.002);
    const scale = Math.min((this.width - 2 * FIT_MARGIN) / spanX, (this.height - 2 * FIT_MARGIN) / spanY);
    this.fitScale = scale;
    this.view = { lon: (west + east) / 2, lat, scale, kx };
    this.changed();
  }

  project(lon, lat) {
    const { view } = this;
    return [
      this.width / 2 + (lon - view.lon) * view.kx * view.scale,
      this.height / 2 - (lat - view.lat) * view.scale,
    ];
  }

  unproject(x, y) {
    const { view } = this;
    return [
      view.lon + (x - this.width / 2) / (view.kx * view.scale),
      view.lat - (y - this.height / 2) / view.scale,
    ];
  }

  // The box in view as minLon,minLat,maxLon,maxLat, clamped to the globe.
  visibleBox() {
    const [west, north] = this.unproject(0, 0);
    const [east, south] = this.unproject(this.width, this.height);
    const clamp = (v, limit) => Math.max(-limit, Math.min(limit, v));
    return [clamp(west, 180), clamp(south, 90), clamp(east, 180), clamp(north, 90)];
  }

  zoom(factor, x = this.width / 2, y = this.height / 2) {
    const [lon, lat] = this.unproject(x, y);
    const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.view.scale * factor));
    this.view.scale = scale;
    // Keep the point under the cursor where it was.
    this.view.lon = lon - (x - this.width / 2) / (this.view.kx * scale);
    this.view.lat = lat + (y - this.height / 2) / scale;
    this.changed();
  }

  centreOn(lot) {
    this.view.lon = lot.lon;
    this.view.lat = lot.lat;
    this.view.scale = Math.max(this.view.scale, this.fitScale * 2);
    this.changed();
  }

  changed() {
    this.requestDraw();
    this.onViewChange?.();
  }

  radius(lot) {
    const zoomed = Math.sqrt(Math.max(1, this.view.scale / this.fitScale));
    return Math.min(22, Math.max(this.minRadius, 1 + Math.sqrt(lot.capacity) * 0.2 * zoomed));
  }

  // -- pointing -----------------------------------------------------------------------------

  lotAt(x, y) {
    let best = null;
    let bestD = Infinity;
    for (const lot of this.lots) {
      const [px, py] = this.project(lot.lon, lot.lat);
      const d = Math.hypot(px - x, py - y);
      if (d <= this.radius(lot) + 4 && d < bestD) {
        best = lot;
        bestD = d;
      }
    }
    return best;
  }

  listen() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener("pointerdown", (e) => {
      drag = { x: e.offsetX, y: e.offsetY, moved: false };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener("pointermove", (e) => {
      if (drag) {
        const dx = e.offsetX - drag.x;
        const dy = e.offsetY - drag.y;
        if (drag.moved || Math.hypot(dx, dy) > 3) {
          drag.moved = true;
          c.classList.add("dragging");
          this.view.lon -= dx / (this.view.kx * this.view.scale);
          this.view.lat += dy / this.view.scale;
          drag.x = e.offsetX;
          drag.y = e.offsetY;
          this.changed();
        }
        return;
      }
      const lot = this.lotAt(e.offsetX, e.offsetY);
      c.classList.toggle("pointing", lot !== null);
      if (lot !== this.hovered) {
        this.hovered = lot;
        this.requestDraw();
      }
      this.onHover?.(lot, e.offsetX, e.offsetY);
    });
    c.addEventListener("pointerup", (e) => {
      if (drag && !drag.moved) this.onSelect?.(this.lotAt(e.offsetX, e.offsetY));
      drag = null;
      c.classList.remove("dragging");
    });
    c.addEventListener("pointerleave", () => {
      this.hovered = null;
      this.onHover?.(null);
      this.requestDraw();
    });
    c.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        this.zoom(Math.exp(-e.deltaY * 0.0015), e.offsetX, e.offsetY);
      },
      { passive: false },
    );
    c.addEventListener("dblclick", (e) => this.zoom(2, e.offsetX, e.offsetY));
  }

  // -- drawing ------------------------------------------------------------------------------

  requestDraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
      if (this.pulsing) this.requestDraw();
    });
  }

  draw() {
    const started = performance.now();
    const { ctx, width: w, height: h } = this;
    const bg = ctx.createRadialGradient(w * 0.5, h * 0.45, 0, w * 0.5, h * 0.45, Math.max(w, h) * 0.75);
    bg.addColorStop(0, "#111d31");
    bg.addColorStop(1, "#0a111e");
    ctx.fillStyle = bg;
    ctx.fillRect(0, 0, w, h);
    this.drawDistrictGlow();
    this.drawGraticule();
    this.drawLots();
    this.drawDistrictLabels();
    this.drawScaleBar();
    this.canvas.dataset.drawMs = (performance.now() - started).toFixed(1); // read by benchmarks.dashboard
  }

  drawGraticule() {
    const { ctx, width: w, height: h } = this;
    const [west, south, east, north] = this.visibleBox();
    const step = niceStep(120 / this.view.scale);
    const digits = Math.max(0, -Math.floor(Math.log10(step)));
    ctx.save();
    ctx.strokeStyle = "rgba(148, 170, 204, 0.07)";
    ctx.lineWidth = 1;
    ctx.fillStyle = "rgba(148, 170, 204, 0.45)";
    ctx.font = "10.5px system-ui, sans-serif";
    ctx.beginPath();
    for (let lon = Math.ceil(west / step) * step; lon <= east; lon += step) {
      const [x] = this.project(lon, 0);
      ctx.moveTo(Math.round(x) + 0.5, 0);
      ctx.lineTo(Math.round(x) + 0.5, h);
      ctx.fillText(`${Math.abs(lon).toFixed(digits)}°${lon >= 0 ? "E" : "W"}`, x + 4, 14);
    }
    for (let lat = Math.ceil(south / step) * step; lat <= north; lat += step) {
      const [, y] = this.project(0, lat);
      ctx.moveTo(0, Math.round(y) + 0.5);
      ctx.lineTo(w, Math.round(y) + 0.5);
      ctx.fillText(`${Math.abs(lat).toFixed(digits)}°${lat >= 0 ? "N" : "S"}`, 6, y - 4);
    }
    ctx.stroke();
    ctx.restore();
  }

  districtRadius(d) {
    // A glow about the size of a district: roughly sqrt(population) kilometres across.
    const km = 4 + 6 * Math.sqrt(d.population_m);
    return ((km * 1000) / METRES_PER_DEGREE) * this.view.scale;
  }

  drawDistrictGlow() {
    const { ctx } = this;
    for (const d of this.districts) {
      const [x, y] = this.project(d.lon, d.lat);
      const r = this.districtRadius(d);
      if (x + r < 0 || y + r < 0 || x - r > this.width || y - r > this.height || r < 6) continue;
      const g = ctx.createRadialGradient(x, y, 0, x, y, r);
      g.addColorStop(0, d.core ? "rgba(94, 176, 239, 0.10)" : "rgba(94, 176, 239, 0.06)");
      g.addColorStop(1, "rgba(94, 176, 239, 0)");
      ctx.fillStyle = g;
      ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
    }
  }

  drawDistrictLabels() {
    const { ctx } = this;
    ctx.save();
    ctx.textAlign = "center";
    for (const d of this.districts) {
      const [x, y] = this.project(d.lon, d.lat);
      if (x < -60 || y < -20 || x > this.width + 60 || y > this.height + 20) continue;
      ctx.font = "600 12px system-ui, sans-serif";
      ctx.letterSpacing = "2.5px";
      ctx.lineWidth = 4;
      ctx.strokeStyle = "rgba(10, 17, 30, 0.85)";
      ctx.fillStyle = "rgba(200, 214, 235, 0.62)";
      const name = d.name.toUpperCase();
      ctx.strokeText(name, x, y);
      ctx.fillText(name, x, y);
    }
    ctx.restore();
  }

  drawLots() {
    const { ctx, width: w, height: h } = this;
    const now = performance.now();
    const groups = new Map(DRAW_ORDER.map((b) => [b, []]));
    let pulses = [];
    let drawn = 0;
    for (const lot of this.lots) {
      const [x, y] = this.project(lot.lon, lot.lat);
      const r = this.radius(lot);
      if (x < -r || y < -r || x > w + r || y > h + r) continue;
      drawn += 1;
      groups.get(bucketOf(lot)).push(x, y, r);
      if (lot.changedAt && now - lot.changedAt < PULSE_MS) pulses.push([x, y, r, lot]);
    }
    const crowded = drawn > CROWDED_ABOVE;
    if (crowded) pulses = []; // rings would redraw every lot each frame, and be lost in the crowd
    ctx.save();
    ctx.lineWidth = 1;
    ctx.strokeStyle = "rgba(8, 13, 24, 0.85)";
    for (const [bucket, points] of groups) {
      if (!points.length) continue;
      ctx.beginPath();
      for (let k = 0; k < points.length; k += 3) {
        const [x, y, r] = [points[k], points[k + 1], points[k + 2]];
        if (crowded && r < SQUARE_BELOW_PX) {
          ctx.rect(x - r, y - r, 2 * r, 2 * r); // as round as a dot this small looks, and cheaper
        } else {
          ctx.moveTo(x + r, y);
          ctx.arc(x, y, r, 0, 2 * Math.PI);
        }
      }
      ctx.fillStyle = bucket.colour;
      ctx.globalAlpha = bucket.key === "none" ? 0.55 : 0.92;
      ctx.fill();
      ctx.globalAlpha = 1;
      if (!crowded) ctx.stroke();
    }
    for (const [x, y, r, lot] of pulses) {
      const t = (now - lot.changedAt) / PULSE_MS;
      ctx.beginPath();
      ctx.arc(x, y, r + 2 + 14 * t, 0, 2 * Math.PI);
      ctx.strokeStyle = bucketOf(lot).colour;
      ctx.globalAlpha = 0.8 * (1 - t);
      ctx.lineWidth = 2;
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    for (const [lot, colour] of [[this.hovered, "rgba(255,255,255,0.55)"], [this.selected, "#ffffff"]]) {
      if (!lot) continue;
      const [x, y] = this.project(lot.lon, lot.lat);
      ctx.beginPath();
      ctx.arc(x, y, this.radius(lot) + 3.5, 0, 2 * Math.PI);
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2;
      ctx.stroke();
    }
    ctx.restore();
    this.pulsing = pulses.length;
    // A handful of small lots still deserve dots one can point at; a crowd needs them small.
    this.minRadius = crowded ? 2 : 3.5;
    this.canvas.dataset.lotsDrawn = String(drawn);
  }

  drawScaleBar() {
    const { ctx } = this;
    const metresPerPx = METRES_PER_DEGREE / this.view.scale;
    const metres = niceStep(metresPerPx * 110);
    const px = metres / metresPerPx;
    const x = 18;
    const y = this.height - 26;
    ctx.save();
    ctx.strokeStyle = "rgba(220, 230, 245, 0.8)";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, y - 5);
    ctx.lineTo(x, y);
    ctx.lineTo(x + px, y);
    ctx.lineTo(x + px, y - 5);
    ctx.stroke();
    ctx.fillStyle = "rgba(220, 230, 245, 0.85)";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(metres >= 1000 ? `${metres / 1000} km` : `${metres} m`, x, y - 9);
    ctx.restore();
  }
}
