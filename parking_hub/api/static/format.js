// Numbers and ages as the page shows them.

const integer = new Intl.NumberFormat("en");

export function count(n) {
  return n === null || n === undefined ? "–" : integer.format(n);
}

export function rate(perSecond) {
  if (perSecond === null) return "–";
  if (perSecond >= 10_000) return `${integer.format(Math.round(perSecond / 100) / 10)}k`;
  return integer.format(Math.round(perSecond));
}

export function age(ms) {
  if (ms === null) return "–";
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

export function percent(part, whole) {
  return whole > 0 ? `${((100 * part) / whole).toFixed(part * 1000 < whole ? 1 : 0)} %` : "–";
}
