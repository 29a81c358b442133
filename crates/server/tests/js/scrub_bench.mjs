// Scrub latency in a real browser, for bench/player.sh: opens the player on a video, drags
// across the timeline (a pointer move every 50 ms, as a hand does), and reports the time from
// each pointer event to the fast frame and its count on screen (they are shown together, by
// design: the count is always the picture's). Also the time to the exact frame after release.
//
// Usage: node scrub_bench.mjs BASE_URL VIDEO_ID [DRAGS]
// Prints one line of JSON: {frames, median_ms, p90_ms, max_ms, release_ms: [...]}.

import { launch } from './chromium.mjs';

const [base, id, drags = '3'] = process.argv.slice(2);
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
await page.goto(`${base}/player.html?id=${id}`);
await page.waitForFunction(() => document.querySelector('#count').dataset.frameTime);
const bar = await page.locator('#timeline').boundingBox();
const y = bar.y + bar.height / 2;
const release = [];
let latencies = [];
for (let d = 0; d < Number(drags); d += 1) {
  await page.evaluate(() => {
    window.pigweight.scrubLatencies.length = 0;
  });
  const [from, to] = d % 2 ? [0.97, 0.03] : [0.03, 0.97];
  await page.mouse.move(bar.x + bar.width * from, y);
  await page.mouse.down();
  for (let k = 0; k <= 80; k += 1) {
    await page.mouse.move(bar.x + bar.width * (from + ((to - from) * k) / 80), y);
    await page.waitForTimeout(50);
  }
  const up = Date.now();
  await page.mouse.up();
  await page.waitForFunction(() => {
    const stage = document.querySelector('#stage').dataset;
    const count = document.querySelector('#count').dataset.frameTime;
    return stage.from === 'video' && count !== '' && Math.abs(Number(count) - Number(stage.frameTime)) < 1e-6;
  });
  release.push(Date.now() - up);
  latencies = latencies.concat(await page.evaluate(() => window.pigweight.scrubLatencies));
}
await browser.close();
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
console.log(JSON.stringify({
  frames: latencies.length,
  median_ms: q(0.5),
  p90_ms: q(0.9),
  max_ms: latencies[latencies.length - 1],
  release_ms: release,
}));
