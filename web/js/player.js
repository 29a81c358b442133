// The player: the video streamed by ranges, the count of the picture on screen with how it is
// known, the count timeline with hover previews, instant scrubbing, boxes over the picture.
//
// One rule holds everything together: the count shown is always the count of the picture shown.
// - Dragging: each fast (keyframe) frame is fetched with its own time (X-Frame-Time), its count
//   is asked for exactly that time, and picture and count go on screen together.
// - Paused: the exact frame's count (and boxes) are asked for the frame's own time.
// - Playing: the count WebSocket sends each change shortly before the frame where it happens,
//   stamped with that frame's time; it is shown when requestVideoFrameCallback says that frame
//   is on screen. While no count is known for the picture, the display shows "…".

import { adoptKey, bandText, call, formatTime, getJSON, showMessage } from './api.js';
import { ReconnectingSocket, socketUrl } from './socket.js';
import { drawBoxes } from './overlay.js';
import { FrameTable } from './frames.js';
import { Thumbnails } from './thumbs.js';
import { Timeline } from './timeline.js';

const $ = (selector) => document.querySelector(selector);
const id = new URLSearchParams(location.search).get('id');
const video = $('#video');
const scrubImage = $('#scrub');
const overlay = $('#overlay');
const stage = $('#stage');
const countEl = $('#count');
const sourceEl = $('#source');
/** Times sent to the API sit this far inside a frame, clear of rounding at its start. */
const EPS = 0.001;
/** How far ahead of the playing picture boxes are fetched, in frames. */
const BOX_LOOKAHEAD = 12;

/** Figures (and the count socket) the browser tests read. */
const measured = { scrubLatencies: [], socket: null };
window.pigweight = measured;

let info = null;
/** The server's frame table: frame numbers and times as the server counts them. */
let frames = null;
let timeline = null;
let socket = null;
let boxesOn = true;
/** The picture on screen: the frame's time and index, and where it comes from. */
let shown = { time: 0, frame: 0, from: 'none' };
/** Count updates received ahead of their frame while playing, oldest first. */
let ahead = [];
/** Boxes fetched ahead of the playing picture, by frame index. */
const playBoxes = new Map();
let boxRequests = 0;
let exactRequest = 0;
const scrub = { active: false, target: null, busy: false, url: null, resume: false };

const frameOf = (time) => frames.frameAt(time);
const at = (time) => (time + EPS).toFixed(6);

function showCount(answer) {
  countEl.textContent = answer ? String(answer.count) : '…';
  $('#band').textContent = answer ? bandText(answer.count_low, answer.count_high) : '';
  countEl.dataset.frameTime = answer ? String(answer.frame_time) : '';
  sourceEl.textContent = answer ? answer.source : '';
  sourceEl.className = `source ${answer ? answer.source : ''}`;
}

function pictureShown(time, from) {
  shown = { time, frame: frameOf(time), from };
  stage.dataset.frameTime = String(time);
  stage.dataset.frame = String(shown.frame);
  stage.dataset.from = from;
  $('#time').textContent = `${formatTime(time)} · frame ${shown.frame}`;
  timeline.setPosition(time);
}

// --- paused: the exact frame ------------------------------------------------------------------

/** Asks for the count (and boxes) of the paused frame at `t`; shows them if it is still there. */
async function showExact(t) {
  const request = ++exactRequest;
  showCount(null);
  drawBoxes(overlay, info, null);
  try {
    // Boxes first: the model's answer on this exact frame is then what count_at_time gives too.
    const detections = boxesOn ? await getJSON(`/api/videos/${id}/detections?t=${at(t)}`) : null;
    const count = await getJSON(`/api/video_file/count_at_time?id=${id}&t=${at(t)}`);
    if (request !== exactRequest || !video.paused || scrub.active) return;
    pictureShown(count.frame_time, 'video');
    showCount(count);
    if (detections && detections.frame_index === count.frame_index) {
      drawBoxes(overlay, info, detections.detections);
    }
  } catch (e) {
    if (request === exactRequest) showMessage(e.message);
  }
}

function seekTo(t) {
  const target = Math.min(Math.max(t, 0), info.duration);
  ahead = [];
  showCount(null);
  video.currentTime = target + EPS;
}

// --- playing: frames as they are presented ----------------------------------------------------

function onVideoFrame(_now, meta) {
  if (!scrub.active) {
    pictureShown(meta.mediaTime, 'video');
    if (!video.paused) {
      applyAhead(meta.mediaTime);
      drawBoxes(overlay, info, boxesOn ? (playBoxes.get(shown.frame) ?? null) : null);
      fetchBoxesAhead();
    }
  }
  nextFrame();
}

/** Calls onVideoFrame for each presented frame: requestVideoFrameCallback where the browser
 * has it, else once per animation frame with the element's current time. */
function nextFrame() {
  if ('requestVideoFrameCallback' in video) {
    video.requestVideoFrameCallback(onVideoFrame);
  } else {
    requestAnimationFrame((now) => onVideoFrame(now, { mediaTime: video.currentTime }));
  }
}

/** Shows the newest count update stamped at or before the picture's time. */
function applyAhead(time) {
  let i = -1;
  while (i + 1 < ahead.length && ahead[i + 1].frame_time <= time + EPS) i += 1;
  if (i >= 0) {
    showCount(ahead[i]);
    ahead = ahead.slice(i + 1);
  }
}

function fetchBoxesAhead() {
  if (!boxesOn) return;
  for (const k of playBoxes.keys()) if (k < shown.frame) playBoxes.delete(k);
  for (let k = shown.frame + 1; k <= shown.frame + BOX_LOOKAHEAD && boxRequests < 2; k += 1) {
    if (playBoxes.has(k) || k >= info.frame_count) continue;
    playBoxes.set(k, null);
    boxRequests += 1;
    getJSON(`/api/videos/${id}/detections?t=${at(frames.time(k))}`)
      .then((d) => playBoxes.set(d.frame_index, d.detections))
      .catch(() => playBoxes.delete(k))
      .finally(() => {
        boxRequests -= 1;
      });
  }
}

function tellSocket() {
  const t = video.currentTime;
  if (video.paused) socket.send({ type: 'pause', t: Math.min(t, info.duration) });
  else socket.send({ type: 'play', t: Math.min(t, info.duration), rate: video.playbackRate });
}

function onSocketMessage(m) {
  if (m.type === 'count_update') {
    // While paused the exact frame's count comes from showExact.
    if (video.paused || video.seeking) return;
    ahead.push(m);
    ahead.sort((a, b) => a.frame_time - b.frame_time);
    applyAhead(shown.time);
  } else if (m.type === 'index_progress') {
    showIndexState(m);
  }
}

// --- dragging ---------------------------------------------------------------------------------

function onScrub(t, eventTime) {
  if (!scrub.active) {
    scrub.active = true;
    scrub.resume = !video.paused;
    video.pause();
  }
  scrub.target = { t, eventTime };
  if (!scrub.busy) scrubNext();
}

/** Fetches the newest wanted fast frame and its count, and shows both together. */
async function scrubNext() {
  const want = scrub.target;
  scrub.target = null;
  if (!want) return;
  scrub.busy = true;
  try {
    const width = Math.min(info.width, Math.round(stage.clientWidth * (window.devicePixelRatio || 1)));
    const frame = await call(
      `/api/video_file/frame_optimized?id=${id}&t=${want.t.toFixed(3)}&mode=fast&inference=false&quality=70&width=${Math.max(16, width)}`,
    );
    const frameTime = Number(frame.headers.get('X-Frame-Time'));
    const blob = await frame.blob();
    const count = await getJSON(`/api/video_file/count_at_time?id=${id}&t=${at(frameTime)}`);
    const url = URL.createObjectURL(blob);
    const img = new Image();
    img.src = url;
    await img.decode();
    if (scrub.active) {
      scrubImage.src = url;
      if (scrub.url) URL.revokeObjectURL(scrub.url);
      scrub.url = url;
      scrubImage.hidden = false;
      drawBoxes(overlay, info, null);
      pictureShown(count.frame_time, 'scrub');
      showCount(count);
      measured.scrubLatencies.push(performance.now() - want.eventTime);
    } else {
      URL.revokeObjectURL(url);
    }
  } catch (e) {
    showMessage(e.message);
  } finally {
    scrub.busy = false;
    if (scrub.active && scrub.target) scrubNext();
  }
}

function onScrubEnd(t) {
  scrub.active = false;
  scrub.target = null;
  seekTo(t);
  if (scrub.resume) video.play();
}

// --- hover ------------------------------------------------------------------------------------

function onHover(t, x) {
  const hover = $('#hover');
  if (t === null || !thumbs) {
    hover.hidden = true;
    return;
  }
  const painted = thumbs.paint($('#hover-thumb'), t);
  $('#hover-thumb').hidden = !painted;
  const bucket = timeline.bucketAt(t);
  $('#hover-time').textContent = formatTime(t, true);
  $('#hover-count').textContent = !bucket
    ? 'not indexed yet'
    : bucket.min === bucket.max
      ? `${bucket.min} pigs`
      : `${bucket.min}–${bucket.max} pigs`;
  const band = bandText(bucket?.count_low, bucket?.count_high);
  if (band && (bucket.count_low !== bucket.min || bucket.count_high !== bucket.max)) {
    $('#hover-count').textContent += ` (${band} where unsure)`;
  }
  hover.hidden = false;
  const wrap = hover.parentElement.clientWidth;
  hover.style.left = `${Math.min(Math.max(0, x - hover.offsetWidth / 2), wrap - hover.offsetWidth)}px`;
}

// --- the index --------------------------------------------------------------------------------

let thumbs = null;
let seriesTimer = 0;

async function loadSeries() {
  clearTimeout(seriesTimer);
  try {
    const points = Math.max(50, Math.min(2000, Math.round($('#timeline').clientWidth)));
    const series = await getJSON(`/api/videos/${id}/counts?points=${points}`);
    timeline.setSeries(series);
    await thumbs.load();
    if (!series.complete) seriesTimer = setTimeout(loadSeries, 2000);
  } catch (e) {
    showMessage(e.message);
  }
}

function showIndexState(status) {
  const el = $('#index-state');
  if (!status) {
    el.textContent = 'not indexed yet';
  } else if (status.state === 'indexing') {
    el.textContent = `indexing (${status.pass}) ${Math.floor(status.percent)}%`;
  } else {
    el.textContent = status.state === 'done' ? 'indexed' : status.state;
  }
  el.dataset.state = status?.state ?? '';
  if (status?.state === 'failed') showMessage(`Indexing failed: ${status.reason}`);
  if (status?.state === 'done' && timeline?.series && !timeline.series.complete) loadSeries();
}

// --- controls ---------------------------------------------------------------------------------

function stepFrame(delta) {
  video.pause();
  const k = Math.min(Math.max(shown.frame + delta, 0), info.frame_count - 1);
  seekTo(frames.time(k));
}

async function jumpToChange(dir) {
  try {
    const { change } = await getJSON(`/api/videos/${id}/changes?t=${at(shown.time)}&dir=${dir}`);
    if (change) {
      video.pause();
      seekTo(change.time);
    }
  } catch (e) {
    showMessage(e.message);
  }
}

function setBoxes(on) {
  boxesOn = on;
  $('#boxes').setAttribute('aria-pressed', String(on));
  playBoxes.clear();
  if (video.paused) showExact(video.currentTime);
  else drawBoxes(overlay, info, null);
}

const actions = {
  play: () => (video.paused ? video.play() : video.pause()),
  back: () => seekTo(video.currentTime - 1),
  forward: () => seekTo(video.currentTime + 1),
  'prev-frame': () => stepFrame(-1),
  'next-frame': () => stepFrame(1),
  'prev-change': () => jumpToChange('previous'),
  'next-change': () => jumpToChange('next'),
  boxes: () => setBoxes(!boxesOn),
  fullscreen: () => (document.fullscreenElement ? document.exitFullscreen() : stage.requestFullscreen()),
};

const keys = {
  ' ': 'play',
  ArrowLeft: 'back',
  ArrowRight: 'forward',
  ',': 'prev-frame',
  '.': 'next-frame',
  '[': 'prev-change',
  ']': 'next-change',
  b: 'boxes',
  f: 'fullscreen',
};

function wireControls() {
  for (const button of document.querySelectorAll('[data-action]')) {
    button.addEventListener('click', () => actions[button.dataset.action]());
  }
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLSelectElement || e.ctrlKey || e.metaKey || e.altKey) return;
    const action = keys[e.key];
    if (!action) return;
    e.preventDefault();
    actions[action]();
  });
  $('#rate').addEventListener('change', (e) => {
    video.playbackRate = Number(e.target.value);
  });
  video.addEventListener('play', () => {
    $('#play').textContent = '⏸';
    ahead = [];
    showCount(null);
    tellSocket();
  });
  video.addEventListener('pause', () => {
    $('#play').textContent = '▶';
    tellSocket();
    // Stopped on a frame: its own count and boxes (unless a drag or seek is under way).
    if (!scrub.active && !video.seeking) showExact(video.currentTime);
  });
  video.addEventListener('ratechange', () => !video.paused && tellSocket());
  video.addEventListener('seeking', () => {
    ahead = [];
    playBoxes.clear();
    if (!scrub.active) showCount(null);
  });
  video.addEventListener('seeked', () => {
    if (scrub.active) return;
    scrubImage.hidden = true;
    if (video.paused) showExact(video.currentTime);
    tellSocket();
  });
  const buffered = () =>
    timeline.setBuffered(
      Array.from({ length: video.buffered.length }, (_, i) => [video.buffered.start(i), video.buffered.end(i)]),
    );
  video.addEventListener('progress', buffered);
  video.addEventListener('loadeddata', () => {
    buffered();
    showExact(video.currentTime);
  });
  video.addEventListener('error', () => {
    showMessage(`The video cannot be played here (${video.error?.message || `media error ${video.error?.code}`}).`);
  });
  new ResizeObserver(() => drawBoxes(overlay, info, null)).observe(stage);
}

// --- playback health: reported to the server in small batches --------------------------------

/** What happened since the last report: time to first frame (once), stalls, switches. */
const health = {
  session: (crypto.randomUUID?.() ?? `${Date.now()}-${Math.random()}`).replace(/[^A-Za-z0-9_-]/g, ''),
  firstFrameMs: null,
  firstSent: false,
  stalls: 0,
  stallMs: 0,
  stallStart: null,
  switches: 0,
};
/** Milliseconds between reports while something happens. */
const REPORT_EVERY_MS = 10_000;

function watchHealth() {
  video.addEventListener('loadeddata', () => {
    if (health.firstFrameMs === null) health.firstFrameMs = measured.firstFrameMs = performance.now();
  });
  video.addEventListener('waiting', () => {
    if (!video.paused && !video.seeking && health.stallStart === null) {
      health.stalls += 1;
      health.stallStart = performance.now();
    }
  });
  const stallEnds = () => {
    if (health.stallStart !== null) {
      health.stallMs += performance.now() - health.stallStart;
      health.stallStart = null;
    }
  };
  video.addEventListener('playing', stallEnds);
  video.addEventListener('pause', stallEnds);
  setInterval(() => reportPlayback(false), REPORT_EVERY_MS);
  addEventListener('pagehide', () => reportPlayback(true));
}

/** Sends what happened since the last report, if anything did (with `beacon`, as the page goes). */
function reportPlayback(beacon) {
  const first = !health.firstSent && health.firstFrameMs !== null;
  if (!first && health.stalls === 0 && health.stallMs === 0 && health.switches === 0) return null;
  const report = {
    session: health.session,
    path: measured.playback,
    stalls: health.stalls,
    stall_ms: Math.round(health.stallMs),
    switches: health.switches,
  };
  if (first) report.first_frame_ms = Math.round(health.firstFrameMs);
  health.firstSent = health.firstSent || first;
  health.stalls = 0;
  health.stallMs = 0;
  health.switches = 0;
  const url = `/api/videos/${encodeURIComponent(id)}/playback`;
  const body = JSON.stringify(report);
  if (beacon) {
    navigator.sendBeacon(url, new Blob([body], { type: 'application/json' }));
    return null;
  }
  return call(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body }).catch(() => {});
}
measured.reportPlayback = () => reportPlayback(false);

// --- the media: the file itself, or HLS -------------------------------------------------------

/** hls.js, while the video plays through HLS with it. */
let hls = null;

/** The file itself where this browser plays its container and codec; else HLS (segments keep
 * the file's times, so the player's time is the API's time either way): natively where the
 * browser has HLS, else through hls.js on Media Source Extensions. */
function attachMedia() {
  if (info.browser_type && video.canPlayType(info.browser_type) !== '') {
    measured.playback = 'file';
    video.src = `/api/videos/${id}/stream`;
    return;
  }
  measured.playback = 'hls';
  const Hls = window.Hls;
  if (Hls?.isSupported()) {
    // Start on the lowest rendition (hls.js orders them by bitrate): its first segment is the
    // quickest to make, and the bandwidth estimate moves up from there.
    hls = new Hls({ startPosition: 0, startLevel: 0 });
    hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => showQualities(data.levels));
    hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => {
      // The first is the start, not a switch.
      if (measured.level !== undefined && measured.level !== data.level) health.switches += 1;
      measured.level = data.level;
      measured.levelSwitches = (measured.levelSwitches ?? 0) + 1;
    });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) showMessage(`The video cannot be played here (HLS: ${data.details}).`);
    });
    hls.loadSource(info.hls);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl') !== '') {
    video.src = info.hls;
  } else {
    showMessage('This browser plays neither this file nor HLS.');
  }
}

/** The quality menu: auto (hls.js's bandwidth estimate) or one rendition. */
function showQualities(levels) {
  const select = $('#quality');
  select.replaceChildren(
    new Option('auto', '-1'),
    ...levels.map((level, i) => new Option(level.name === 'source' ? `source (${level.height}p)` : `${level.height}p`, String(i))),
  );
  measured.levels = levels.map((level) => level.name || `${level.height}p`);
  $('#quality-wrap').hidden = false;
  select.addEventListener('change', () => {
    hls.currentLevel = Number(select.value);
  });
}

// --- start ------------------------------------------------------------------------------------

async function start() {
  await adoptKey();
  if (!id) {
    showMessage('No video chosen: open one from the library.');
    return;
  }
  try {
    info = await getJSON(`/api/videos/${encodeURIComponent(id)}`);
    frames = new FrameTable(await getJSON(`/api/videos/${encodeURIComponent(id)}/frames`));
  } catch (e) {
    showMessage(e.status === 404 ? `Video not found: ${e.message}.` : e.message);
    return;
  }
  document.title = `${info.name} · pigweight`;
  $('#title').textContent = info.name;
  stage.style.aspectRatio = `${info.width} / ${info.height}`;
  $('#timeline').setAttribute('aria-valuemax', String(info.duration));
  $('#main').hidden = false;
  showIndexState(info.index);
  timeline = new Timeline($('#timeline'), { duration: info.duration, onScrub, onScrubEnd, onHover });
  thumbs = new Thumbnails(id);
  wireControls();
  nextFrame();
  watchHealth();
  attachMedia();
  socket = measured.socket = new ReconnectingSocket(socketUrl(`/ws/count?id=${encodeURIComponent(id)}`), {
    onOpen: () => {
      const message = document.getElementById('message');
      if (message.dataset.lost) {
        delete message.dataset.lost;
        showMessage('');
      }
      tellSocket();
    },
    onMessage: onSocketMessage,
    onDown: (tries) => {
      if (tries >= 2) {
        showMessage('The connection to the server is lost; reconnecting…', 'warning');
        document.getElementById('message').dataset.lost = '1';
      }
    },
  });
  loadSeries();
}

start();
