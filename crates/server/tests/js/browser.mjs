// The player in a real browser: Debian's chromium, headless, driven by playwright-core, against
// a live server (started by tests/browser.rs, which checks what this prints against the API and
// the synthetic video's ground truth).
//
// Usage: node browser.mjs BASE_URL VIDEO_ID SCREENSHOT_DIR UPLOAD_FILE BROKEN_VIDEO_ID
// Prints one line of JSON with what the pages showed, and the scrub latencies measured in the
// page (pointer event to picture and count on screen, ms).

import { launch } from './chromium.mjs';

const [base, id, shots, uploadFile, brokenId] = process.argv.slice(2);
const browser = await launch();
const out = { pageErrors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => out.pageErrors.push(e.message));
  page.setDefaultTimeout(30_000);

  // The library: the video is listed, indexed, with its facts.
  await page.goto(`${base}/`);
  const item = page.locator(`li.video[data-id="${id}"]`);
  await item.and(page.locator('[data-state="done"]')).waitFor();
  out.library = { text: await item.innerText() };

  // Upload a file from the library page: it is listed once the server has it.
  await page.setInputFiles('#file', uploadFile);
  await page.click('#upload button[type=submit]');
  const uploaded = page.locator('li.video', { hasText: 'upload-test.mp4' });
  await uploaded.waitFor();
  out.uploaded = { text: await uploaded.innerText() };
  await page.screenshot({ path: `${shots}/library.png` });

  // Open it.
  await item.locator('a').click();
  await page.waitForURL(/player\.html\?id=/);
  const shown = () =>
    page.evaluate(() => ({
      frameTime: Number(document.querySelector('#stage').dataset.frameTime),
      frame: Number(document.querySelector('#stage').dataset.frame),
      from: document.querySelector('#stage').dataset.from,
      count: document.querySelector('#count').textContent,
      countFrameTime: document.querySelector('#count').dataset.frameTime,
      source: document.querySelector('#source').textContent,
      boxes: document.querySelector('#overlay').dataset.boxes,
    }));
  // Settled: picture and count of the same frame, with boxes drawn for it when paused.
  const settled = (from) =>
    page.waitForFunction((from) => {
      const stage = document.querySelector('#stage').dataset;
      const count = document.querySelector('#count').dataset;
      const boxes = document.querySelector('#overlay').dataset.boxes;
      return stage.from === from && count.frameTime !== '' &&
        Math.abs(Number(count.frameTime) - Number(stage.frameTime)) < 1e-6 &&
        (from !== 'video' || boxes !== '');
    }, from);
  await settled('video');
  out.opened = await shown();

  // Drag the timeline to three positions; after each release the exact frame is shown.
  const bar = await page.locator('#timeline').boundingBox();
  const y = bar.y + bar.height / 2;
  const xAt = (fraction) => bar.x + bar.width * fraction;
  out.drags = [];
  let from = 0.05;
  for (const to of [0.3, 0.62, 0.85]) {
    await page.mouse.move(xAt(from), y);
    await page.mouse.down();
    for (let k = 1; k <= 12; k += 1) {
      await page.mouse.move(xAt(from + ((to - from) * k) / 12), y);
      await page.waitForTimeout(40);
    }
    await settled('scrub');
    const scrub = await shown();
    if (out.drags.length === 0) await page.screenshot({ path: `${shots}/scrubbing.png` });
    await page.mouse.up();
    await settled('video');
    out.drags.push({ to, scrub, exact: await shown() });
    from = to;
  }
  await page.screenshot({ path: `${shots}/paused.png` });

  // Hover: a thumbnail from a sprite sheet and the count there, without a request per pixel.
  await page.mouse.move(xAt(0.4), y);
  await page.locator('#hover').waitFor({ state: 'visible' });
  out.hover = await page.evaluate(async () => {
    const thumb = document.querySelector('#hover-thumb');
    const url = getComputedStyle(thumb).backgroundImage.slice(5, -2);
    const sheet = await fetch(url);
    return {
      url,
      status: sheet.status,
      type: sheet.headers.get('content-type'),
      width: thumb.clientWidth,
      text: document.querySelector('#hover').innerText,
    };
  });
  await page.screenshot({ path: `${shots}/hover.png` });
  await page.mouse.move(0, 0);

  // Frame steps with the keyboard.
  const before = await shown();
  await page.keyboard.press('.');
  await page.waitForFunction((k) => Number(document.querySelector('#stage').dataset.frame) === k + 1, before.frame);
  await settled('video');
  const next = await shown();
  await page.keyboard.press(',');
  await page.waitForFunction((k) => Number(document.querySelector('#stage').dataset.frame) === k, before.frame);
  await settled('video');
  out.steps = { before, next, back: await shown() };

  // Playing: the picture moves on, and the count shown is stamped at or before the picture
  // (the WebSocket's updates arrive ahead and wait for their frame).
  for (let k = 0; k < 4; k += 1) await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(() => Number(document.querySelector('#stage').dataset.frameTime) < 3);
  await settled('video');
  await page.keyboard.press(' ');
  out.playing = [];
  for (let k = 0; k < 15; k += 1) {
    await page.waitForTimeout(100);
    out.playing.push(await shown());
  }
  await page.keyboard.press(' ');
  await settled('video');
  out.pausedAfterPlay = await shown();

  // Scrub latency: a long drag across the timeline, a move every 50 ms.
  await page.evaluate(() => {
    window.pigweight.scrubLatencies.length = 0;
  });
  await page.mouse.move(xAt(0.02), y);
  await page.mouse.down();
  for (let k = 0; k <= 60; k += 1) {
    await page.mouse.move(xAt(0.02 + (0.95 * k) / 60), y);
    await page.waitForTimeout(50);
  }
  await page.mouse.up();
  out.scrubLatencies = await page.evaluate(() => window.pigweight.scrubLatencies);

  // A dropped count WebSocket reconnects by itself.
  await page.evaluate(() => window.pigweight.socket.ws.close());
  await page.waitForFunction(() => window.pigweight.socket.tries >= 1);
  await page.waitForFunction(() => window.pigweight.socket.open && window.pigweight.socket.tries === 0);
  out.reconnected = true;

  // On a phone: the page fits the screen's width and the controls are there.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await phone.goto(`${base}/player.html?id=${id}`);
  await phone.waitForFunction(() => document.querySelector('#count').dataset.frameTime);
  out.phone = await phone.evaluate(() => ({
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    controls: [...document.querySelectorAll('.controls button')].every((b) => b.getBoundingClientRect().width > 0),
  }));
  await phone.screenshot({ path: `${shots}/phone.png`, fullPage: true });
  await phone.close();

  // A file that is not a video: the server's reason, shown.
  await page.goto(`${base}/player.html?id=${brokenId}`);
  await page.locator('#message').waitFor({ state: 'visible' });
  out.broken = await page.locator('#message').innerText();

  // The live view: a library video added as a live source, its frames and counts arriving by
  // WebRTC (the page's first choice), then over the stream WebSocket (its fallback, asked for).
  await page.goto(`${base}/live.html`);
  await page.locator(`#video option[value="${id}"]`).waitFor({ state: 'attached' });
  await page.selectOption('#video', id);
  await page.click('#add button[type=submit]');
  const watched = () =>
    page.evaluate(() => ({
      transport: window.pigweight.transport,
      frames: window.pigweight.frames,
      count: document.querySelector('#count').textContent,
      lastCount: window.pigweight.lastCount,
      listed: document.querySelectorAll('#streams li.video').length,
      width:
        window.pigweight.transport === 'webrtc'
          ? document.querySelector('#live-video').videoWidth
          : document.querySelector('#picture').width,
    }));
  const settledLive = async () => {
    await page.waitForFunction(() => window.pigweight.frames >= 10);
    await page.waitForFunction(() => document.querySelector('#state').textContent === 'live');
    await page.waitForFunction(() => document.querySelector('#count').textContent === String(window.pigweight.lastCount));
  };
  await settledLive();
  out.live = await watched();
  const stream = new URL(page.url()).hash;
  await page.goto(`${base}/live.html?transport=websocket${stream}`);
  await settledLive();
  out.liveSocket = await watched();
  await page.screenshot({ path: `${shots}/live.png` });

  // An unknown video: a message, not silence.
  await page.goto(`${base}/player.html?id=0000000000000000`);
  await page.locator('#message').waitFor({ state: 'visible' });
  out.unknown = await page.locator('#message').innerText();
  await page.screenshot({ path: `${shots}/unknown.png` });
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
