// Timeline hover previews from the index's sprite sheets, located by a WebVTT file
// (`thumbnails.vtt`: one cue per thumbnail, `sheet.jpg#xywh=x,y,w,h`): no request per pixel.

/** Parses the cues of a thumbnails WebVTT file. */
export function parseVtt(text) {
  const cues = [];
  const stamp = (s) => {
    const [h, m, sec] = s.trim().split(':');
    return Number(h) * 3600 + Number(m) * 60 + Number(sec);
  };
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.split(/\r?\n/);
    const timing = lines.findIndex((l) => l.includes('-->'));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [from, to] = lines[timing].split('-->').map(stamp);
    const [url, frag] = lines[timing + 1].trim().split('#xywh=');
    const [x, y, w, h] = (frag ?? '').split(',').map(Number);
    cues.push({ from, to, url, x, y, w, h });
  }
  return cues;
}

export class Thumbnails {
  constructor(videoId) {
    this.videoId = videoId;
    this.cues = [];
  }

  /** Loads (or reloads, as the index fills in) the cues. */
  async load() {
    const vtt = new URL(`/api/videos/${this.videoId}/thumbnails.vtt`, location.href);
    const response = await fetch(vtt, { credentials: 'same-origin' });
    if (!response.ok) return;
    // Sheet URLs in the file are relative to the file.
    this.cues = parseVtt(await response.text()).map((c) => ({ ...c, url: new URL(c.url, vtt).href }));
  }

  /** The cue covering `t` (the last one starting at or before it). */
  at(t) {
    let lo = 0;
    let hi = this.cues.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cues[mid].from <= t) lo = mid + 1;
      else hi = mid;
    }
    return this.cues[Math.max(0, lo - 1)] ?? null;
  }

  /** Paints the thumbnail at `t` as `el`'s background; false when there is none yet. */
  paint(el, t) {
    const cue = this.at(t);
    if (!cue) return false;
    el.style.width = `${cue.w}px`;
    el.style.height = `${cue.h}px`;
    el.style.backgroundImage = `url("${cue.url}")`;
    el.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    return true;
  }
}
