// The street map under the lots: Web Mercator tiles from the operator's XYZ URL (--map-tiles).
// They go on a canvas of their own, under the map's: a canvas holding another origin's pixels can
// no longer be read back, and drawing them on the map's own would need CORS from the tile server.

const TILE = 256; // pixels of a tile image
const MAX_ZOOM = 19; // the deepest level most tile servers have; beyond it tiles are scaled up
const ANCESTORS = 4; // while a tile loads, the nearest loaded tile this many levels up stands in
const KEEP = 512; // tiles kept in memory, the least recently used dropped first

export class TileLayer {
  constructor(canvas, url, onLoad) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.url = url;
    this.onLoad = onLoad;
    this.images = new Map(); // "z/x/y" -> an <img>, loading, loaded or failed
    this.drawnKey = "";
    this.loads = 0;
  }

  // The tile's image if it has loaded; starts loading it if asked to and not yet tried.
  tile(z, x, y, fetch) {
    const key = `${z}/${x}/${y}`;
    let img = this.images.get(key);
    if (img) {
      this.images.delete(key); // and back in at the end: the least recently used go first
      this.images.set(key, img);
    } else if (fetch) {
      img = new Image();
      img.addEventListener("load", () => {
        this.loads += 1;
        this.onLoad();
      });
      img.src = this.url.replace("{z}", z).replace("{x}", x).replace("{y}", y);
      this.images.set(key, img);
      if (this.images.size > KEEP) this.images.delete(this.images.keys().next().value);
    }
    return img?.complete && img.naturalWidth > 0 ? img : null;
  }

  // Draws the tiles under the map's view; does nothing while neither the view nor the tiles changed.
  draw(map) {
    const { width: w, height: h, view } = map;
    const dpr = window.devicePixelRatio || 1;
    const key = [w, h, dpr, view.x, view.y, view.k, this.loads].join();
    if (key === this.drawnKey) return;
    this.drawnKey = key;
    if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
    }
    const { ctx } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const z = Math.max(0, Math.min(MAX_ZOOM, Math.round(Math.log2(view.k / TILE))));
    const n = 2 ** z;
    const size = view.k / n; // a tile's side on screen
    const left = w / 2 - view.x * view.k; // where the world's west edge is
    const top = h / 2 - view.y * view.k;
    let drawn = 0;
    for (let ty = Math.max(0, Math.floor(-top / size)); ty <= Math.min(n - 1, Math.floor((h - top) / size)); ty++) {
      for (let tx = Math.floor(-left / size); tx <= Math.floor((w - left) / size); tx++) {
        // Whole pixels on both edges, so neighbouring tiles meet without a hairline between them.
        const [x0, y0] = [Math.round(left + tx * size), Math.round(top + ty * size)];
        const [x1, y1] = [Math.round(left + (tx + 1) * size), Math.round(top + (ty + 1) * size)];
        if (this.drawTile(z, ((tx % n) + n) % n, ty, x0, y0, x1 - x0, y1 - y0)) drawn += 1;
      }
    }
    this.canvas.dataset.tilesDrawn = String(drawn);
  }

  drawTile(z, x, y, dx, dy, dw, dh) {
    const img = this.tile(z, x, y, true);
    if (img) {
      this.ctx.drawImage(img, dx, dy, dw, dh);
      return true;
    }
    for (let up = 1; up <= Math.min(ANCESTORS, z); up++) {
      const parent = this.tile(z - up, x >> up, y >> up, false);
      if (!parent) continue;
      const part = parent.naturalWidth / 2 ** up; // this tile's share of its ancestor
      const [sx, sy] = [(x % 2 ** up) * part, (y % 2 ** up) * part];
      this.ctx.drawImage(parent, sx, sy, part, part, dx, dy, dw, dh);
      return false;
    }
    return false;
  }
}
