// A WebSocket that reconnects by itself with backoff after a dropped connection (the count
// WebSocket, docs/websocket.md; the live stream WebSocket, docs/streams.md). `onOpen` is called
// on every (re)connection so the page can say where it is.

/** The ws:// (or wss://) URL of `path` on this server. */
export function socketUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}${path}`;
}

export class ReconnectingSocket {
  /**
   * @param {string} url
   * @param {{onOpen: () => void, onMessage: (m: object) => void, onBinary?: (b: ArrayBuffer) => void,
   *          onDown: (tries: number) => void}} handlers
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.tries = 0;
    this.ws = null;
    this.closed = false;
    this.connect();
  }

  get open() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  connect() {
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      this.tries = 0;
      this.handlers.onOpen();
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') {
        this.handlers.onBinary?.(e.data);
        return;
      }
      try {
        this.handlers.onMessage(JSON.parse(e.data));
      } catch {
        // not JSON: ignore
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws || this.closed) return;
      this.ws = null;
      this.tries += 1;
      this.handlers.onDown(this.tries);
      setTimeout(() => this.connect(), Math.min(8000, 250 * 2 ** this.tries));
    };
  }

  send(message) {
    if (this.open) this.ws.send(JSON.stringify(message));
  }

  /** Closes for good (no reconnection). */
  close() {
    this.closed = true;
    this.ws?.close();
  }
}
