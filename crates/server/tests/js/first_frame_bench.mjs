// Time to first frame in the player (bench/hls.sh): Debian's chromium opens the player on each
// video twice, on a server that has made nothing yet (cold) and again (cached), and reads the
// time from opening the page to the first picture (the video element's `loadeddata`, as the
// player reports it) and the path it played (the file, or HLS).
//
// Usage: node first_frame_bench.mjs BASE_URL VIDEO_ID... Prints one line of JSON.

import { launch } from './chromium.mjs';

const [base, ...ids] = process.argv.slice(2);
const browser = await launch();
const out = {};
try {
  for (const id of ids) {
    out[id] = {};
    for (const run of ['cold', 'cached']) {
      // A fresh context: nothing in the browser's own cache.
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(120_000);
      await page.goto(`${base}/player.html?id=${id}`);
      // The player's own measure: from navigation start to `loadeddata`.
      await page.waitForFunction(() => window.pigweight?.firstFrameMs !== undefined);
      const seen = await page.evaluate(() => ({ ms: window.pigweight.firstFrameMs, playback: window.pigweight.playback }));
      out[id][run] = seen;
      await context.close();
    }
  }
} finally {
  console.log(JSON.stringify(out));
  await browser.close();
}
