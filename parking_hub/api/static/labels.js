// Label placement: each label takes the first of its candidate boxes that lies inside the map,
// clear of every box already taken (other labels, the scale bar, the controls over the map) and,
// if it asks, of the lot dots. A label with no such box is not drawn: a missing name reads better
// than one over another. Boxes are {left, top, right, bottom} in CSS pixels of the map canvas.

const CELL = 32; // pixels: the grid the dots are filed under

export function box(left, top, width, height) {
  return { left, top, right: left + width, bottom: top + height };
}

function overlaps(a, b) {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

function touches(b, [x, y, r]) {
  const dx = x - Math.max(b.left, Math.min(x, b.right));
  const dy = y - Math.max(b.top, Math.min(y, b.bottom));
  return dx * dx + dy * dy < r * r;
}

// The drawn dots, filed by grid cell so a box is checked against the few dots near it.
export class DotIndex {
  constructor() {
    this.cells = new Map();
  }

  add(x, y, r) {
    this.eachCell(box(x - r, y - r, 2 * r, 2 * r), (key) => {
      if (!this.cells.has(key)) this.cells.set(key, []);
      this.cells.get(key).push([x, y, r]);
    });
  }

  hits(b) {
    let hit = false;
    this.eachCell(b, (key) => {
      hit ||= (this.cells.get(key) ?? []).some((dot) => touches(b, dot));
    });
    return hit;
  }

  eachCell(b, visit) {
    for (let i = Math.floor(b.left / CELL); i <= Math.floor(b.right / CELL); i++) {
      for (let j = Math.floor(b.top / CELL); j <= Math.floor(b.bottom / CELL); j++) visit(`${i},${j}`);
    }
  }
}

export class LabelLayout {
  constructor(width, height, dots) {
    this.bounds = box(0, 0, width, height);
    this.dots = dots;
    this.taken = [];
    this.placed = [];
  }

  // A box no label may take: the controls laid over the map.
  reserve(b) {
    this.taken.push(b);
  }

  // A label that has its own place, such as the scale bar's.
  pin(label, b) {
    this.taken.push(b);
    this.placed.push({ ...label, ...b });
  }

  // The first candidate that fits, now taken by this label; null when none fits.
  place(label, candidates, { clearOfDots = false } = {}) {
    const inside = (b) =>
      b.left >= this.bounds.left && b.top >= this.bounds.top && b.right <= this.bounds.right && b.bottom <= this.bounds.bottom;
    const fits = (b) => inside(b) && !this.taken.some((t) => overlaps(t, b)) && !(clearOfDots && this.dots.hits(b));
    const found = candidates.find(fits);
    if (!found) return null;
    this.taken.push(found);
    this.placed.push({ ...label, ...found });
    return found;
  }
}
