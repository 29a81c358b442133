// The player on videos of different codecs in a real browser: chromium plays an H.264 MP4 as
// the file itself and an H.265 MP4 or an MPEG-4 AVI through HLS (hls.js); each plays, seeks and
// shows the count of the paused frame; the quality menu switches HLS renditions (playing starts
// on the lowest).
//
// Usage: node hls.mjs BASE_URL VIDEO_ID... Prints one line of JSON (tests/hls.rs checks it).

import { launch } from './chromium.mjs';

const [base, ...ids] = process.argv.slice(2);
const browser = await launch();
const out = { pageErrors: [], videos: {} };

const shown = (page) =>
  page.evaluate(() => ({
    frameTime: Number(document.querySelector('#stage').dataset.frameTime),
    frame: Number(document.querySelector('#stage').dataset.frame),
    count: document.querySelector('#count').textContent,
    countFrameTime: document.querySelector('#count').dataset.frameTime,
    message: document.querySelector('#message').hidden ? '' : document.querySelector('#message').textContent,
  }));

// Paused on a frame whose picture and count agree.
const settled = (page) =>
  page.waitForFunction(() => {
    const video = document.querySelector('#video');
    const stage = document.querySelector('#stage').dataset;
    const count = document.querySelector('#count').dataset;
    return video.paused && !video.seeking && stage.from === 'video' && count.frameTime !== '' &&
      Math.abs(Number(count.frameTime) - Number(stage.frameTime)) < 1e-6;
  });

try {
  for (const id of ids) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => out.pageErrors.push(e.message));
    page.setDefaultTimeout(60_000);
    const started = Date.now();
    await page.goto(`${base}/player.html?id=${id}`);
    await page.waitForFunction(() => document.querySelector('#video').readyState >= 2);
    const seen = { firstFrameMs: Date.now() - started };
    await settled(page);
    seen.playback = await page.evaluate(() => window.pigweight.playback);
    seen.opened = await shown(page);

    // Plays: the picture moves on.
    await page.keyboard.press(' ');
    await page.waitForFunction(() => document.querySelector('#video').currentTime > 1.5);
    await page.keyboard.press(' ');
    await settled(page);
    seen.afterPlay = await shown(page);

    // Seeks (+1 s twice, then a frame step), and shows the paused frame's count.
    await page.keyboard.press('ArrowRight');
    await settled(page);
    await page.keyboard.press('ArrowRight');
    await settled(page);
    const before = await shown(page);
    await page.keyboard.press('.');
    await page.waitForFunction((k) => Number(document.querySelector('#stage').dataset.frame) === k + 1, before.frame);
    await settled(page);
    seen.seeked = { before, after: await shown(page) };

    seen.size = await page.evaluate(() => [document.querySelector('#video').videoWidth, document.querySelector('#video').videoHeight]);
    // HLS: the quality menu picks the source rendition (playing starts on the lowest), and
    // playing goes on with it.
    if (seen.playback === 'hls') {
      const levels = await page.evaluate(() => window.pigweight.levels);
      const chosen = levels.indexOf('source');
      await page.selectOption('#quality', String(chosen));
      await page.keyboard.press(' ');
      await page.waitForFunction((l) => window.pigweight.level === l, chosen);
      const t = await page.evaluate(() => document.querySelector('#video').currentTime);
      await page.waitForFunction((t) => document.querySelector('#video').currentTime > t + 0.5, t);
      await page.keyboard.press(' ');
      await settled(page);
      seen.quality = {
        levels,
        level: await page.evaluate(() => window.pigweight.level),
        after: await shown(page),
        size: await page.evaluate(() => [document.querySelector('#video').videoWidth, document.querySelector('#video').videoHeight]),
      };
    }
    // Its playback report, sent now rather than in ten seconds.
    await page.evaluate(() => window.pigweight.reportPlayback());
    out.videos[id] = seen;
    await page.close();
  }
} finally {
  console.log(JSON.stringify(out));
  await browser.close();
}
