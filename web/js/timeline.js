// The timeline under the video: the count over time (min–max band and mean line per bucket;
// stretches with no index sample in them drawn paler, not-yet-indexed time grey), the buffered
// ranges, the played position. Pointer (mouse, pen, touch) drags scrub; hovering reports the
// time under the pointer. Drawn on a canvas at the device's pixel ratio.

const COLORS = {
  background: '#1b1f24',
  unindexed: '#2a2f36',
  band: 'rgba(94, 200, 120, 0.35)',
  bandCarried: 'rgba(94, 200, 120, 0.14)',
  line: '#5ec878',
  lineCarried: 'rgba(94, 200, 120, 0.45)',
  buffered: 'rgba(255, 255, 255, 0.22)',
  played: '#f0b43c',
  hover: 'rgba(255, 255, 255, 0.6)',
};

export class Timeline {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{duration: number, onScrub: (t: number, at: number) => void,
   *          onScrubEnd: (t: number) => void, onHover: (t: number | null, x: number) => void}} options
   */
  constructor(canvas, options) {
    this.canvas = canvas;
    this.duration = options.duration;
    this.options = options;
    this.series = null;
    this.position = 0;
    this.buffered = [];
    this.hoverT = null;
    this.dragging = false;
    this.listen();
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** The time under client x coordinate `clientX`. */
  timeAt(clientX) {
    const r = this.canvas.getBoundingClientRect();
    return Math.min(this.duration, Math.max(0, ((clientX - r.left) / r.width) * this.duration));
  }

  listen() {
    const c = this.canvas;
    c.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      c.setPointerCapture(e.pointerId);
      this.dragging = true;
      this.options.onScrub(this.timeAt(e.clientX), e.timeStamp);
      e.preventDefault();
    });
    c.addEventListener('pointermove', (e) => {
      const t = this.timeAt(e.clientX);
      if (this.dragging) this.options.onScrub(t, e.timeStamp);
      if (e.pointerType !== 'touch') this.hover(t, e.clientX);
    });
    const end = (e) => {
      if (!this.dragging) return;
      this.dragging = false;
      this.options.onScrubEnd(this.timeAt(e.clientX));
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('pointerleave', () => this.hover(null, 0));
  }

  hover(t, clientX) {
    this.hoverT = t;
    const r = this.canvas.getBoundingClientRect();
    this.options.onHover(t, clientX - r.left);
    this.draw();
  }

  setSeries(series) {
    this.series = series;
    this.draw();
  }

  setPosition(t) {
    this.position = t;
    this.canvas.setAttribute('aria-valuenow', t.toFixed(3));
    this.draw();
  }

  setBuffered(ranges) {
    this.buffered = ranges;
    this.draw();
  }

  /** The bucket of the series at `t`, if the index reaches there. */
  bucketAt(t) {
    const s = this.series;
    if (!s || !s.buckets.length) return null;
    const i = Math.floor((t - s.from) / s.bucket_s);
    return s.buckets[Math.min(Math.max(i, 0), s.buckets.length - 1)] ?? null;
  }

  draw() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.paint();
    });
  }

  paint() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(c.clientWidth * dpr);
    const h = Math.round(c.clientHeight * dpr);
    if (!w || !h) return;
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    const g = c.getContext('2d');
    const x = (t) => (t / this.duration) * w;
    const graphH = h - 6 * dpr; // a strip at the bottom for buffered ranges
    g.fillStyle = COLORS.unindexed;
    g.fillRect(0, 0, w, h);

    const s = this.series;
    if (s && s.buckets.length) {
      const end = s.from + s.buckets.length * s.bucket_s;
      g.fillStyle = COLORS.background;
      g.fillRect(x(s.from), 0, x(end) - x(s.from), graphH);
      // The count axis spans the counts seen (with a pig of room each side), not 0..max: a
      // pen of 8–12 pigs must not draw as a flat line at the top.
      const lo = Math.max(0, Math.min(...s.buckets.map((b) => b.min)) - 1);
      const hi = Math.max(lo + 2, Math.max(...s.buckets.map((b) => b.max)) + 1);
      const y = (v) => graphH - 4 * dpr - ((v - lo) / (hi - lo)) * (graphH - 10 * dpr);
      g.font = `${Math.round(10 * dpr)}px system-ui, sans-serif`;
      const step = Math.max(1, Math.ceil((hi - lo) / 4));
      for (let v = lo + 1; v < hi; v += step) {
        g.fillStyle = 'rgba(255, 255, 255, 0.07)';
        g.fillRect(0, y(v), w, dpr);
        g.fillStyle = 'rgba(255, 255, 255, 0.45)';
        g.fillText(String(v), 3 * dpr, y(v) - 2 * dpr);
      }
      for (const b of s.buckets) {
        const x0 = x(b.time);
        const x1 = Math.max(x(b.time + s.bucket_s), x0 + 1);
        g.fillStyle = b.samples ? COLORS.band : COLORS.bandCarried;
        g.fillRect(x0, y(b.max) - dpr, x1 - x0, y(b.min) - y(b.max) + 2 * dpr);
        g.fillStyle = b.samples ? COLORS.line : COLORS.lineCarried;
        g.fillRect(x0, y(b.mean) - dpr, x1 - x0, 2 * dpr);
      }
    }

    g.fillStyle = COLORS.buffered;
    for (const [a, b] of this.buffered) g.fillRect(x(a), h - 4 * dpr, x(b) - x(a), 4 * dpr);
    g.fillStyle = COLORS.played;
    g.fillRect(0, h - 4 * dpr, x(this.position), 4 * dpr);
    g.fillRect(x(this.position) - dpr, 0, 2 * dpr, h);
    if (this.hoverT !== null) {
      g.fillStyle = COLORS.hover;
      g.fillRect(x(this.hoverT) - dpr / 2, 0, dpr, graphH);
    }
  }
}
