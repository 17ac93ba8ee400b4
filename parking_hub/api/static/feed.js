// Everything the page reads from the hub, through the public API only.

export const PAGE_LIMIT = 5000; // /v1/lots's largest page
export const STREAM_LIMIT = 2000; // lots one /v1/stream may follow
const WORLD = [-180, -90, 180, 90];
const POLL_MS = 5000; // refresh period while too many lots are in view for one stream
const RETRY_MS = 5000; // after a stream the server refused (it reconnects by itself otherwise)

async function getJson(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json" } });
  if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
  return resp.json();
}

// Every lot in the box, page by page in lot-id order.
export async function lotsIn(box, onPage) {
  const lots = [];
  let after = null;
  do {
    const query = new URLSearchParams({ bbox: box.join(","), limit: String(PAGE_LIMIT) });
    if (after) query.set("after", after);
    const page = await getJson(`/v1/lots?${query}`);
    lots.push(...page.lots);
    onPage?.(lots.length);
    after = page.next_after;
  } while (after);
  return lots;
}

export const allLots = (onPage) => lotsIn(WORLD, onPage);
export const summary = () => getJson("/v1/summary");
export const lotDetail = (id) => getJson(`/v1/lots/${encodeURIComponent(id)}`);
export const lotBerths = (id) => getJson(`/v1/lots/${encodeURIComponent(id)}/berths`);

// Keeps the lots in view live: one stream while it can follow them all, else a page refresh
// every few seconds (a city of 50,000 lots zoomed out is more than one stream takes).
export class LiveFeed {
  constructor({ onCounts, onState }) {
    this.onCounts = onCounts;
    this.onState = onState;
    this.source = null;
    this.timer = null;
    this.following = "";
  }

  // box: the area to follow; lotsInBox: how many lots it holds, known from the loaded registry.
  follow(box, lotsInBox) {
    const key = lotsInBox <= STREAM_LIMIT ? `stream:${box.join(",")}` : `poll:${box.join(",")}`;
    if (key === this.following) return;
    this.stop();
    this.following = key;
    if (lotsInBox <= STREAM_LIMIT) this.stream(box);
    else this.poll(box);
  }

  stop() {
    this.source?.close();
    this.source = null;
    clearTimeout(this.timer);
    this.timer = null;
    this.following = "";
  }

  stream(box) {
    const source = new EventSource(`/v1/stream?bbox=${box.join(",")}`);
    this.source = source;
    this.onState("connecting", "");
    source.addEventListener("open", () => this.onState("live", "stream"));
    source.addEventListener("availability", (e) => this.onCounts([JSON.parse(e.data)]));
    source.addEventListener("error", () => {
      if (source.readyState !== EventSource.CLOSED) {
        this.onState("reconnecting", "");
        return;
      }
      // Refused (limit, restart): try again in a while with the same box.
      this.onState("reconnecting", "retrying");
      const key = this.following;
      this.timer = setTimeout(() => {
        if (this.following === key) this.stream(box);
      }, RETRY_MS);
    });
  }

  poll(box) {
    const key = this.following;
    const turn = async () => {
      let rows = null;
      try {
        rows = await lotsIn(box);
      } catch {
        // reported below, unless the page has moved on meanwhile
      }
      if (this.following !== key) return;
      if (rows) this.onCounts(rows);
      this.onState(rows ? "polling" : "reconnecting", rows ? `every ${POLL_MS / 1000} s · zoom in for live` : "");
      this.timer = setTimeout(turn, POLL_MS);
    };
    turn();
  }
}
