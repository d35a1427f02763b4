// WebSocket connection to the engine with automatic reconnect (exponential backoff with jitter).
//
// Events delivered to the callbacks:
//   onState({state, attempt, retryIn})  state: "connecting" | "open" | "waiting" | "closed"
//   onMessage(obj)                      every JSON message (hello, frame, reply, ...)

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 8000;

export class Connection {
  constructor(url, { onState = () => {}, onMessage = () => {} } = {}) {
    this.url = url;
    this.onState = onState;
    this.onMessage = onMessage;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this._open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send one control message; returns false when not connected. */
  send(obj) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  _open() {
    clearTimeout(this.timer);
    this.onState({ state: "connecting", attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.onState({ state: "open" });
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return; // binary frames are not requested by this page
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (err) {
        console.warn("liveedit: ignoring a message that is not JSON", err);
        return;
      }
      this.onMessage(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) this.onState({ state: "closed" });
      else this._scheduleRetry();
    };
    ws.onerror = () => {
      // onclose follows and schedules the retry
    };
  }

  _scheduleRetry() {
    this.attempt += 1;
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** (this.attempt - 1));
    const delay = base * (0.75 + 0.5 * Math.random());
    this.onState({ state: "waiting", attempt: this.attempt, retryIn: delay });
    this.timer = setTimeout(() => this._open(), delay);
  }
}

/** The stream's address: ?ws=... overrides; otherwise /ws on the server that served this page. */
export function defaultUrl(location) {
  const params = new URLSearchParams(location.search);
  let url = params.get("ws");
  if (!url) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    url = `${scheme}//${location.host || "127.0.0.1:8765"}/ws`;
  }
  const token = params.get("token");
  if (token && !url.includes("token=")) url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  return url;
}
