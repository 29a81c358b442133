// The live page watching a stream by WebRTC (WHEP) in a real browser: it picks WebRTC, frames
// arrive with the count beside them, and the latency from the camera to the browser's frame is
// read from the clock the test camera draws into its pictures (tests/support/clock_camera.py:
// two rows of 24 blocks along the bottom, milliseconds modulo 2^24; a frame counts where both
// rows read the same). Then the page leaves the stream, which
// hangs up.
//
// With TRANSPORT `vanish`, the browser is killed (SIGKILL) once WebRTC frames flow: no hang-up,
// the server has to notice the viewer is gone by itself.
//
// With TRANSPORT `websocket` the page is told to skip WebRTC, and the clock is read from the
// canvas the WebSocket's JPEGs are drawn on: the reference the WebRTC latency is compared with.
//
// Usage: node whep.mjs BASE_URL STREAM_ID SAMPLES [TRANSPORT]. Prints one line of JSON
// (tests/webrtc.rs checks it).

import { chromium } from 'playwright-core';
import { launch, launchServer } from './chromium.mjs';

const [base, id, samples, transport = 'webrtc'] = process.argv.slice(2);

if (transport === 'vanish') {
  const server = await launchServer();
  const browser = await chromium.connect(server.wsEndpoint());
  const page = await browser.newPage();
  await page.goto(`${base}/live.html#${id}`);
  await page.waitForFunction(() => window.pigweight.transport !== null && window.pigweight.frames >= 10);
  const transport = await page.evaluate(() => window.pigweight.transport);
  server.process().kill('SIGKILL');
  console.log(JSON.stringify({ transport }));
  process.exit(0);
}
const browser = await launch();
const out = { pageErrors: [], console: [] };
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => out.pageErrors.push(e.message));
  page.on('console', (m) => out.console.push(m.text()));
  page.setDefaultTimeout(30_000);
  await page.goto(`${base}/live.html?transport=${transport}#${id}`);
  await page.waitForFunction(() => window.pigweight.transport !== null);
  out.transport = await page.evaluate(() => window.pigweight.transport);
  await page.waitForFunction(() => window.pigweight.frames >= 30 && /^\d+$/.test(document.querySelector('#count').textContent));
  out.shown = await page.evaluate(() => {
    const video = document.querySelector('#live-video');
    return {
      frames: window.pigweight.frames,
      count: Number(document.querySelector('#count').textContent),
      width: video.videoWidth,
      height: video.videoHeight,
      videoHidden: video.hidden,
      canvasHidden: document.querySelector('#picture').hidden,
    };
  });
  // The camera's clock in each frame as it is about to be shown, against the wall clock then.
  out.latencyMs = await page.evaluate(
    ([n, transport]) =>
      new Promise((resolve) => {
        const video = document.querySelector('#live-video');
        const picture = document.querySelector('#picture');
        const canvas = document.createElement('canvas');
        const ctx = canvas.getContext('2d', { willReadFrequently: true });
        const found = [];
        let unread = 0;
        // The clock in `source` (a video or the page's canvas), shown at wall time `shownAt`.
        const sample = (source, width, height, shownAt) => {
          canvas.width = width;
          canvas.height = height;
          ctx.drawImage(source, 0, 0);
          const sx = width / 640;
          const sy = height / 360;
          const top = Math.round(320 * sy);
          const band = ctx.getImageData(0, top, width, height - top).data;
          // Mean red of a block's middle (rows 5..15 of its 20-pixel row, columns 6..18).
          const level = (row, bit) => {
            let sum = 0;
            let count = 0;
            for (let y = Math.round((row * 20 + 5) * sy); y < Math.round((row * 20 + 15) * sy); y += 1) {
              for (let x = Math.round((16 + bit * 24 + 6) * sx); x < Math.round((16 + bit * 24 + 18) * sx); x += 1) {
                sum += band[(y * width + x) * 4];
                count += 1;
              }
            }
            return sum / count;
          };
          const read = (row) => {
            let ms = 0;
            for (let bit = 0; bit < 24; bit += 1) ms = ms * 2 + (level(row, bit) > 128 ? 1 : 0);
            return ms;
          };
          const ms = read(0);
          if (ms === read(1)) found.push((((shownAt % 2 ** 24) - ms) % 2 ** 24 + 2 ** 24) % 2 ** 24);
          else unread += 1;
          return found.length >= n || unread > n;
        };
        const done = () => resolve({ found, unread });
        if (transport === 'webrtc') {
          const onFrame = (now, meta) => {
            const shownAt = Date.now() + (meta.expectedDisplayTime - performance.now());
            if (sample(video, video.videoWidth, video.videoHeight, shownAt)) done();
            else video.requestVideoFrameCallback(onFrame);
          };
          video.requestVideoFrameCallback(onFrame);
        } else {
          // The canvas changes when the page draws a frame: read it at the next paint.
          let last = window.pigweight.frames;
          const onPaint = () => {
            if (window.pigweight.frames !== last) {
              last = window.pigweight.frames;
              if (sample(picture, picture.width, picture.height, Date.now())) return done();
            }
            requestAnimationFrame(onPaint);
          };
          requestAnimationFrame(onPaint);
        }
      }),
    [Number(samples), transport],
  );
  // Leaving the stream hangs up (DELETE on the session).
  await page.evaluate(() => {
    location.hash = '';
  });
  await page.waitForTimeout(1000);
  out.afterLeaving = await page.evaluate(() => window.pigweight.frames);
} catch (e) {
  out.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
