// The city map on one canvas, in Web Mercator as street map tiles are: a graticule, a scale bar,
// district labels where we ship them, and every lot as a dot sized by capacity and coloured by
// availability, over a street map when the operator names a tile server (tiles.js) and a plain
// dark ground otherwise. One path per colour keeps 50,000 lots cheap to draw.

import { box, DotIndex, LabelLayout } from "./labels.js";
import { bucketOf, DRAW_ORDER } from "./palette.js";

const EQUATOR_M = 40_075_017; // the Earth's circumference, as Web Mercator takes it
const MAX_LAT = 85.051129; // where Web Mercator's square world ends
const PULSE_MS = 1600; // how long a changed lot's ring keeps spreading
const MIN_K = 128; // pixels across the whole world: it fits in the map
const MAX_K = 256 * 2 ** 24; // a centimetre or so per pixel
const NICE_STEPS = [1, 2, 5];
const FIT_MARGIN = 48; // pixels left around the city when it is fitted to the map
// With many lots in view, outlines and round dots cost more to rasterise than they show.
const CROWDED_ABOVE = 5000;
const SQUARE_BELOW_PX = 2.5;

// A district's name goes where it is clear, as near its centre as can be: tried at rings this
// many pixels apart, out to LABEL_REACH, in LABEL_DIRECTIONS directions each. Names are wide, so
// the rings are wider than they are tall.
const LABEL_RING = 8;
const LABEL_REACH = 160;
const LABEL_DIRECTIONS = 16;
const LABEL_WIDENING = 1.6;
const LABEL_CLAIM = 0.9; // a name's distance to its centre, at most, over its distance to another's
const DISTRICT_FONT = "600 12px system-ui, sans-serif";
const SMALL_FONT = "10.5px system-ui, sans-serif";
const HALO = 2; // pixels of outline around a label's letters, counted in its box

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  const mantissa = NICE_STEPS.find((m) => m * power >= raw);
  return (mantissa ?? 10) * power;
}

// Web Mercator: the world as the unit square, x eastwards from 180°W, y southwards from MAX_LAT.
function toWorld(lon, lat) {
  const phi = (Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180;
  return [(lon + 180) / 360, 0.5 - Math.log(Math.tan(Math.PI / 4 + phi / 2)) / (2 * Math.PI)];
}

function fromWorld(x, y) {
  return [x * 360 - 180, (Math.atan(Math.sinh(Math.PI * (1 - 2 * y))) * 180) / Math.PI];
}

// Whether a name at (x, y) reads as district i's: clearly nearer its centre than any other's.
function closestTo(centres, i, x, y) {
  const own = Math.hypot(centres[i][0] - x, centres[i][1] - y);
  return centres.every(([cx, cy], j) => j === i || own <= LABEL_CLAIM * Math.hypot(cx - x, cy - y));
}

// The box a text takes when drawn at (x, y) with the context's current font, alignment and baseline.
function textBox(ctx, text, x, y) {
  const m = ctx.measureText(text);
  return {
    left: x - m.actualBoundingBoxLeft - HALO,
    top: y - m.actualBoundingBoxAscent - HALO,
    right: x + m.actualBoundingBoxRight + HALO,
    bottom: y + m.actualBoundingBoxDescent + HALO,
  };
}

export class CityMap {
  // covers: elements laid over the map (its controls, the legend), which labels keep clear of.
  constructor(canvas, { covers = [], onSelect, onHover, onViewChange }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.covers = covers;
    this.tiles = null;
    this.lots = [];
    this.world = new Float64Array(0); // each lot's Web Mercator x and y, in this.lots' order
    this.districts = [];
    this.labels = [];
    this.selected = null;
    this.hovered = null;
    this.view = { x: 0.5, y: 0.5, k: 256 }; // the centre, in world units, and pixels across the world
    this.fitK = 256;
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
    this.world = new Float64Array(2 * lots.length);
    lots.forEach((lot, i) => this.world.set(toWorld(lot.lon, lot.lat), 2 * i));
    this.requestDraw();
  }

  setTiles(tiles) {
    this.tiles = tiles;
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
    let [west, east, north, south] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let i = 0; i < this.world.length; i += 2) {
      west = Math.min(west, this.world[i]);
      east = Math.max(east, this.world[i]);
      north = Math.min(north, this.world[i + 1]);
      south = Math.max(south, this.world[i + 1]);
    }
    const least = 1e-5; // of the world's width, a few hundred metres: one lot alone is not a point
    const k = Math.min(
      (this.width - 2 * FIT_MARGIN) / Math.max(east - west, least),
      (this.height - 2 * FIT_MARGIN) / Math.max(south - north, least),
    );
    this.fitK = Math.min(MAX_K, k);
    this.view = { x: (west + east) / 2, y: (north + south) / 2, k: this.fitK };
    this.changed();
  }

  toScreen(x, y) {
    const { view } = this;
    return [this.width / 2 + (x - view.x) * view.k, this.height / 2 + (y - view.y) * view.k];
  }

  project(lon, lat) {
    return this.toScreen(...toWorld(lon, lat));
  }

  unproject(x, y) {
    const { view } = this;
    return fromWorld(view.x + (x - this.width / 2) / view.k, view.y + (y - this.height / 2) / view.k);
  }

  // Metres a pixel spans at the centre of the view.
  metresPerPixel() {
    const lat = this.unproject(this.width / 2, this.height / 2)[1];
    return (EQUATOR_M * Math.cos((lat * Math.PI) / 180)) / this.view.k;
  }

  // The box in view as minLon,minLat,maxLon,maxLat, clamped to the globe.
  visibleBox() {
    const [west, north] = this.unproject(0, 0);
    const [east, south] = this.unproject(this.width, this.height);
    const clamp = (v, limit) => Math.max(-limit, Math.min(limit, v));
    return [clamp(west, 180), clamp(south, 90), clamp(east, 180), clamp(north, 90)];
  }

  zoom(factor, x = this.width / 2, y = this.height / 2) {
    const { view } = this;
    // Keep the point under the cursor where it was.
    const [wx, wy] = [view.x + (x - this.width / 2) / view.k, view.y + (y - this.height / 2) / view.k];
    view.k = Math.min(MAX_K, Math.max(MIN_K, view.k * factor));
    view.x = wx - (x - this.width / 2) / view.k;
    view.y = wy - (y - this.height / 2) / view.k;
    this.changed();
  }

  centreOn(lot) {
    [this.view.x, this.view.y] = toWorld(lot.lon, lot.lat);
    this.view.k = Math.max(this.view.k, this.fitK * 2);
    this.changed();
  }

  changed() {
    this.requestDraw();
    this.onViewChange?.();
  }

  radius(lot) {
    const zoomed = Math.sqrt(Math.max(1, this.view.k / this.fitK));
    return Math.min(22, Math.max(this.minRadius, 1 + Math.sqrt(lot.capacity) * 0.2 * zoomed));
  }

  // -- pointing -----------------------------------------------------------------------------

  lotAt(x, y) {
    let best = null;
    let bestD = Infinity;
    for (const [i, lot] of this.lots.entries()) {
      const [px, py] = this.toScreen(this.world[2 * i], this.world[2 * i + 1]);
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
          this.view.x -= dx / this.view.k;
          this.view.y -= dy / this.view.k;
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
    if (this.tiles) {
      this.tiles.draw(this);
      ctx.clearRect(0, 0, w, h);
      ctx.fillStyle = "rgba(10, 17, 30, 0.5)"; // dims the street map, so the dots stay what one sees
      ctx.fillRect(0, 0, w, h);
    } else {
      const bg = ctx.createRadialGradient(w * 0.5, h * 0.45, 0, w * 0.5, h * 0.45, Math.max(w, h) * 0.75);
      bg.addColorStop(0, "#111d31");
      bg.addColorStop(1, "#0a111e");
      ctx.fillStyle = bg;
      ctx.fillRect(0, 0, w, h);
    }
    this.drawDistrictGlow();
    const ticks = this.drawGraticule();
    const dots = this.drawLots();
    this.drawLabels(ticks, dots);
    this.canvas.dataset.drawMs = (performance.now() - started).toFixed(1); // read by benchmarks.dashboard
  }

  // The graticule's lines; returns their labels, for drawLabels to place.
  drawGraticule() {
    const { ctx, width: w, height: h } = this;
    const [west, south, east, north] = this.visibleBox();
    const step = niceStep((120 * 360) / this.view.k);
    const digits = Math.max(0, -Math.floor(Math.log10(step)));
    const ticks = [];
    ctx.save();
    ctx.strokeStyle = this.tiles ? "rgba(148, 170, 204, 0.14)" : "rgba(148, 170, 204, 0.07)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let lon = Math.ceil(west / step) * step; lon <= east; lon += step) {
      const [x] = this.project(lon, 0);
      ctx.moveTo(Math.round(x) + 0.5, 0);
      ctx.lineTo(Math.round(x) + 0.5, h);
      ticks.push({ text: `${Math.abs(lon).toFixed(digits)}°${lon >= 0 ? "E" : "W"}`, x, y: 14, along: "top" });
    }
    for (let lat = Math.ceil(south / step) * step; lat <= north; lat += step) {
      const [, y] = this.project(0, lat);
      ctx.moveTo(0, Math.round(y) + 0.5);
      ctx.lineTo(w, Math.round(y) + 0.5);
      ticks.push({ text: `${Math.abs(lat).toFixed(digits)}°${lat >= 0 ? "N" : "S"}`, x: 6, y, along: "left" });
    }
    ctx.stroke();
    ctx.restore();
    return ticks;
  }

  // Every text on the map, placed so that none covers another, the controls over the map or, for
  // district names, a lot: the scale bar first, then district names by importance, then the
  // graticule's degrees, each beside its line on whichever side is free.
  drawLabels(ticks, dots) {
    const { ctx } = this;
    const layout = new LabelLayout(this.width, this.height, dots);
    const here = this.canvas.getBoundingClientRect();
    for (const cover of this.covers) {
      const r = cover.getBoundingClientRect();
      if (r.width && r.height) layout.reserve(box(r.left - here.left, r.top - here.top, r.width, r.height));
    }
    ctx.save();
    ctx.strokeStyle = "rgba(10, 17, 30, 0.85)";
    ctx.lineJoin = "round"; // a mitred outline grows spikes at the letters' sharp corners
    this.drawScaleBar(layout);
    this.drawDistrictNames(layout);
    this.drawDegrees(layout, ticks);
    ctx.restore();
    this.labels = layout.placed;
  }

  drawDistrictNames(layout) {
    const { ctx, districts } = this;
    ctx.font = DISTRICT_FONT;
    ctx.letterSpacing = "2.5px";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.lineWidth = 4;
    ctx.fillStyle = "rgba(200, 214, 235, 0.8)";
    const centres = districts.map((d) => this.project(d.lon, d.lat));
    const important = (a, b) => districts[b].core - districts[a].core || districts[b].population_m - districts[a].population_m;
    for (const i of [...districts.keys()].sort(important)) {
      const name = districts[i].name.toUpperCase();
      const [x, y] = centres[i];
      const at = textBox(ctx, name, x, y);
      const candidates = [];
      for (let r = 0; r <= LABEL_REACH; r += LABEL_RING) {
        for (let k = 0; k < (r ? LABEL_DIRECTIONS : 1); k++) {
          const angle = (2 * Math.PI * k) / LABEL_DIRECTIONS;
          const [dx, dy] = [r * LABEL_WIDENING * Math.cos(angle), r * Math.sin(angle)];
          if (!closestTo(centres, i, x + dx, y + dy)) continue;
          candidates.push({ left: at.left + dx, top: at.top + dy, right: at.right + dx, bottom: at.bottom + dy });
        }
      }
      const spot = layout.place({ text: name, kind: "district" }, candidates, { clearOfDots: true });
      if (!spot) continue;
      ctx.strokeText(name, x + spot.left - at.left, y + spot.top - at.top);
      ctx.fillText(name, x + spot.left - at.left, y + spot.top - at.top);
    }
  }

  drawDegrees(layout, ticks) {
    const { ctx } = this;
    ctx.font = SMALL_FONT;
    ctx.letterSpacing = "0px";
    ctx.textBaseline = "alphabetic";
    ctx.lineWidth = 2.5;
    ctx.fillStyle = this.tiles ? "rgba(220, 230, 245, 0.9)" : "rgba(148, 170, 204, 0.7)";
    for (const { text, x, y, along } of ticks) {
      // Beside its line: right or left of it along the top, above or below it along the left.
      const sides = along === "top" ? [["left", x + 4, y], ["right", x - 4, y]] : [["left", x, y - 4], ["left", x, y + 12]];
      for (const [align, tx, ty] of sides) {
        ctx.textAlign = align;
        if (!layout.place({ text, kind: "degrees" }, [textBox(ctx, text, tx, ty)])) continue;
        ctx.strokeText(text, tx, ty);
        ctx.fillText(text, tx, ty);
        break;
      }
    }
  }

  districtRadius(d) {
    // A glow about the size of a district: roughly sqrt(population) kilometres across.
    const km = 4 + 6 * Math.sqrt(d.population_m);
    return (km * 1000) / this.metresPerPixel();
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

  drawLots() {
    const { ctx, width: w, height: h } = this;
    const now = performance.now();
    const groups = new Map(DRAW_ORDER.map((b) => [b, []]));
    let pulses = [];
    let drawn = 0;
    // Only district names keep clear of dots: without districts, 50,000 lots need no index.
    const dots = new DotIndex();
    const indexed = this.districts.length > 0;
    for (const [i, lot] of this.lots.entries()) {
      const [x, y] = this.toScreen(this.world[2 * i], this.world[2 * i + 1]);
      const r = this.radius(lot);
      if (x < -r || y < -r || x > w + r || y > h + r) continue;
      drawn += 1;
      if (indexed) dots.add(x, y, r);
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
      ctx.globalAlpha = bucket.key === "none" || bucket.key === "closed" ? 0.55 : 0.92;
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
    return dots;
  }

  drawScaleBar(layout) {
    const { ctx } = this;
    const metresPerPx = this.metresPerPixel();
    const metres = niceStep(metresPerPx * 110);
    const px = metres / metresPerPx;
    const x = 18;
    const y = this.height - 26;
    const text = metres >= 1000 ? `${metres / 1000} km` : `${metres} m`;
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
    ctx.fillText(text, x, y - 9);
    const label = textBox(ctx, text, x, y - 9);
    layout.pin({ text, kind: "scale" }, { ...label, right: Math.max(label.right, x + px + HALO), bottom: y + HALO });
    ctx.restore();
  }
}
