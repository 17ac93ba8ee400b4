// A lot's free berths today and ahead, as an SVG chart: the history since local midnight, and the
// forecast for the next four hours with its 80% interval as a band.

import { count } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 320;
const H = 120;
const PAD = { left: 30, right: 6, top: 8, bottom: 18 };
export const HORIZONS = Array.from({ length: 16 }, (_, k) => 15 * (k + 1)); // minutes, as the API takes them

function node(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export function midnight(now) {
  const day = new Date(now);
  day.setHours(0, 0, 0, 0);
  return day.getTime();
}

// history: /v1/lots/{id}/history points; forecast: /v1/lots/{id}/forecast's list; now in ms.
export function drawCurve(svg, capacity, history, forecast, now) {
  const start = midnight(now);
  const end = now + 4 * 3_600_000;
  const x = (t) => PAD.left + ((t - start) / (end - start)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (Math.min(capacity, Math.max(0, v)) / (capacity || 1)) * (H - PAD.top - PAD.bottom);
  const pts = (list, key) => list.map((p) => `${x(Date.parse(p.at)).toFixed(1)},${y(p[key]).toFixed(1)}`);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  svg.append(
    node("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0) }),
    node("line", { class: "now", x1: x(now), x2: x(now), y1: PAD.top, y2: y(0) }),
  );
  for (const [v, label] of [[0, "0"], [capacity, count(capacity)]]) {
    const text = node("text", { x: PAD.left - 4, y: y(v) + 4, "text-anchor": "end" });
    text.textContent = label;
    svg.append(text);
  }
  for (const [t, label] of [[start, "00:00"], [now, "now"], [end, "+4 h"]]) {
    const text = node("text", { x: x(t), y: H - 4, "text-anchor": t === start ? "start" : t === end ? "end" : "middle" });
    text.textContent = label;
    svg.append(text);
  }
  const today = history.filter((p) => Date.parse(p.at) >= start);
  if (forecast.length) {
    const band = [...pts(forecast, "high"), ...pts(forecast, "low").reverse()];
    svg.append(node("polygon", { id: "curve-band", points: band.join(" ") }));
    svg.append(node("polyline", { id: "curve-forecast", points: pts(forecast, "free").join(" ") }));
  }
  if (today.length) svg.append(node("polyline", { id: "curve-history", points: pts(today, "free").join(" ") }));
  svg.dataset.historyPoints = String(today.length);
  svg.dataset.forecastPoints = String(forecast.length);
}
