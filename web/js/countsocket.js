// The count WebSocket (docs/websocket.md), reconnecting by itself with backoff after a dropped
// connection. `onOpen` is called on every (re)connection so the player can say where it is.

export class CountSocket {
  /**
   * @param {string} videoId
   * @param {{onOpen: () => void, onMessage: (m: object) => void, onDown: (tries: number) => void}} handlers
   */
  constructor(videoId, handlers) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.url = `${scheme}://${location.host}/ws/count?id=${encodeURIComponent(videoId)}`;
    this.handlers = handlers;
    this.tries = 0;
    this.ws = null;
    this.connect();
  }

  get open() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  connect() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.tries = 0;
      this.handlers.onOpen();
    };
    ws.onmessage = (e) => {
      try {
        this.handlers.onMessage(JSON.parse(e.data));
      } catch {
        // not JSON: ignore
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.tries += 1;
      this.handlers.onDown(this.tries);
      setTimeout(() => this.connect(), Math.min(8000, 250 * 2 ** this.tries));
    };
  }

  send(message) {
    if (this.open) this.ws.send(JSON.stringify(message));
  }
}
