// Everything the page reads from the hub, through the public API only.

export const PAGE_LIMIT = 5000; // /v1/lots's largest page
export const STREAM_LIMIT = 2000; // lots one /v1/stream may follow
const WORLD = [-180, -90, 180, 90];
const POLL_MS = 5000; // refresh period while too many lots are in view for one stream
const RETRY_MS = 2000; // before reconnecting a stream that ended or was refused

// A hub with API keys on is opened as /#key=KEY: the fragment never leaves the browser, and the
// key goes out as a header on every request (never in a URL, where logs would keep it).
const KEY = new URLSearchParams(location.hash.slice(1)).get("key");
const KEY_HEADERS = KEY ? { "X-API-Key": KEY } : {};

async function getJson(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json", ...KEY_HEADERS } });
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
export const lotHistory = (id, from) =>
  getJson(`/v1/lots/${encodeURIComponent(id)}/history?${new URLSearchParams({ from, step: "15m" })}`);
export const lotForecast = (id, horizons) =>
  getJson(`/v1/lots/${encodeURIComponent(id)}/forecast?horizons=${horizons.join(",")}`);

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
    this.source?.abort();
    this.source = null;
    clearTimeout(this.timer);
    this.timer = null;
    this.following = "";
  }

  // Server-Sent Events read with fetch rather than EventSource, which cannot send the key header.
  // Like EventSource, it reconnects after RETRY_MS and resumes with Last-Event-ID.
  stream(box) {
    const key = this.following;
    const source = new AbortController();
    this.source = source;
    let lastId = null;
    const connect = async () => {
      this.onState("connecting", "");
      try {
        const headers = { Accept: "text/event-stream", ...KEY_HEADERS };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const resp = await fetch(`/v1/stream?bbox=${box.join(",")}`, { headers, signal: source.signal });
        if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
        this.onState("live", "stream");
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          const blocks = buffer.split("\n\n");
          buffer = blocks.pop();
          const rows = [];
          for (const block of blocks) {
            const event = parseEvent(block);
            lastId = event.id ?? lastId;
            if (event.name === "availability") rows.push(JSON.parse(event.data));
          }
          if (rows.length) this.onCounts(rows);
        }
      } catch {
        // a refused or broken stream: reconnect below, unless it was closed on purpose
      }
      if (source.signal.aborted || this.following !== key) return;
      this.onState("reconnecting", "");
      this.timer = setTimeout(connect, RETRY_MS);
    };
    connect();
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

// One event of a text/event-stream: its id, name and data (comment and retry lines are skipped).
function parseEvent(block) {
  const event = { id: null, name: "message", data: [] };
  for (const line of block.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const field = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") event.id = value;
    else if (field === "event") event.name = value;
    else if (field === "data") event.data.push(value);
  }
  return { ...event, data: event.data.join("\n") };
}
