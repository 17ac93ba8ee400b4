// How a lot's availability maps to a colour, shared by the map, its legend and the panel.
// A lot is coloured by the share of its capacity known to be free: unknown berths never count as
// free, and a lot that is offline or mostly unknown shows as "no data" rather than as full.

export const NO_DATA = { key: "none", label: "no data", colour: "#5b6b82" };
export const BUCKETS = [
  { key: "plenty", label: "half or more free", colour: "#30a46c", from: 0.5 },
  { key: "space", label: "25–50 % free", colour: "#9bd14b", from: 0.25 },
  { key: "filling", label: "10–25 % free", colour: "#f5c542", from: 0.1 },
  { key: "scarce", label: "under 10 % free", colour: "#f7862f", from: Number.MIN_VALUE },
  { key: "full", label: "full", colour: "#e5484d", from: 0 },
];
// A lot closed by its opening hours offers nothing, whatever its berths say.
export const CLOSED = { key: "closed", label: "closed now", colour: "#8a6fb8" };
// Drawing order: the least available lots go on top, where they catch the eye.
export const DRAW_ORDER = [NO_DATA, CLOSED, ...BUCKETS];
export const LEGEND_ORDER = [...BUCKETS, CLOSED, NO_DATA];

export function bucketOf(lot) {
  if (lot.open_now === false) return CLOSED;
  if (!lot.online || lot.unknown * 2 > lot.capacity) return NO_DATA;
  const share = lot.free / lot.capacity;
  return BUCKETS.find((b) => share >= b.from);
}

export const BERTH_COLOURS = { f: "#30a46c", o: "#e5484d", u: "#3a4659" };
export const BERTH_WORDS = { f: "free", o: "occupied", u: "unknown" };
export const EV_MARK = "#f5d90a";
export const ACCESSIBLE_MARK = "#5eb0ef";
