// The server's frame table, so the player numbers frames exactly as the server does (frame k
// is the k-th smallest presentation time; the frame on screen at t is the last at or before
// t), on variable frame rates too. The table comes as runs of evenly spaced frames: a
// constant-rate video is one run, whatever its length.

/** Slack for times that are equal in principle (a millionth of a second). */
const SLACK = 1e-6;

export class FrameTable {
  /** @param {{frame_count: number, runs: {first: number, time: number, step: number, count: number}[]}} table */
  constructor(table) {
    this.count = table.frame_count;
    this.runs = table.runs;
  }

  /** The run holding frame k (clamped to the video). */
  runOfFrame(k) {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runs[mid].first <= k) lo = mid;
      else hi = mid - 1;
    }
    return this.runs[lo];
  }

  /** Frame k's time, seconds from the first frame. */
  time(k) {
    const i = Math.min(Math.max(Math.round(k), 0), this.count - 1);
    const run = this.runOfFrame(i);
    return run.time + (i - run.first) * run.step;
  }

  /** The frame on screen at time t. */
  frameAt(t) {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runs[mid].time <= t + SLACK) lo = mid;
      else hi = mid - 1;
    }
    const run = this.runs[lo];
    const into = run.step > 0 ? Math.floor((t - run.time) / run.step + SLACK) : 0;
    return run.first + Math.min(Math.max(into, 0), run.count - 1);
  }
}
