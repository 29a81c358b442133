// Live streams: add a camera (or a library video played in a loop), pick one, watch it with its
// count. The picture comes by WebRTC (WHEP, docs/streams.md) where the browser and server can:
// H.264 with the boxes and count drawn in, the count beside it from the stream WebSocket
// without pictures. Otherwise the frames come over the stream WebSocket: each binary message
// is a 24-byte header (frame id, timestamp, count, JPEG length; little-endian) and the JPEG, so
// the count shown is always the one of the picture shown; the server adapts the quality to
// what this page keeps up with. Either way the connection comes back by itself after a drop.

import { adoptKey, bandText, getJSON, showMessage } from './api.js';
import { ReconnectingSocket, socketUrl } from './socket.js';

const $ = (selector) => document.querySelector(selector);
const canvas = $('#picture');
const video = $('#live-video');
/** Figures the browser test reads; `transport` is 'webrtc' or 'websocket'. */
const seen = { frames: 0, lastFrameId: null, lastCount: null, transport: null };
window.pigweight = seen;

let watching = null;
let rtc = null;
let lastFrameAt = 0;
let shownAt = [];

function describe(status) {
  if (!status) return '';
  return status.state === 'retrying' ? `retrying (${status.attempts}): ${status.reason}` : status.state;
}

async function refresh() {
  let streams;
  try {
    streams = await getJSON('/api/streams');
  } catch (e) {
    showMessage(e.message);
    return;
  }
  const items = streams.map((s) => {
    const li = document.createElement('li');
    li.className = 'video';
    li.dataset.id = s.id;
    li.dataset.state = s.status.state;
    const open = document.createElement('a');
    open.href = `#${s.id}`;
    open.textContent = s.name;
    const facts = document.createElement('span');
    facts.className = 'facts';
    facts.textContent = `${s.count ?? '–'} pigs · ${s.clients} watching`;
    const state = document.createElement('div');
    state.className = 'state';
    state.textContent = `${describe(s.status)} · ${s.source}`;
    const remove = document.createElement('button');
    remove.textContent = 'Remove';
    remove.addEventListener('click', async () => {
      await fetch(`/api/streams/${s.id}`, { method: 'DELETE', credentials: 'same-origin' });
      if (location.hash === `#${s.id}`) location.hash = '';
      refresh();
    });
    state.append(' ', remove);
    li.append(open, facts, state);
    return li;
  });
  $('#streams').replaceChildren(...items);
  if (!streams.length) $('#streams').innerHTML = '<li class="empty">No live streams: add a camera above.</li>';
}

async function showFrame(buffer) {
  const view = new DataView(buffer);
  const id = Number(view.getBigUint64(0, true));
  const count = view.getUint32(16, true);
  const length = view.getUint32(20, true);
  const bitmap = await createImageBitmap(new Blob([new Uint8Array(buffer, 24, length)], { type: 'image/jpeg' }));
  if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
  }
  canvas.getContext('2d').drawImage(bitmap, 0, 0);
  bitmap.close();
  // Picture and count of the same frame, together.
  $('#count').textContent = String(count);
  seen.lastFrameId = id;
  seen.lastCount = count;
  shown();
}

/** A frame shown: the fps figure and the stale flag follow it. */
function shown() {
  seen.frames += 1;
  lastFrameAt = performance.now();
  shownAt.push(lastFrameAt);
  shownAt = shownAt.filter((t) => t > lastFrameAt - 2000);
  $('#fps').textContent = `${(shownAt.length / 2).toFixed(1)} fps`;
  $('#stale').hidden = true;
}

/** Resolves once ICE gathering is complete, or after `ms` (the answer then has fewer candidates). */
function gathered(pc, ms) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const timer = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/**
 * A WebRTC session by WHEP: resolves once media flows, rejects when the server or the browser
 * cannot (the caller falls back to the WebSocket). `close()` hangs up.
 */
async function startWebRtc(id) {
  if (!window.RTCPeerConnection) throw new Error('this browser has no WebRTC');
  const pc = new RTCPeerConnection();
  let session = null;
  const close = () => {
    pc.close();
    if (session) fetch(session, { method: 'DELETE', credentials: 'same-origin', keepalive: true }).catch(() => {});
    session = null;
  };
  try {
    pc.addTransceiver('video', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 1000);
    const response = await fetch(`/api/streams/${encodeURIComponent(id)}/whep`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    if (response.status !== 201) throw new Error(`WHEP answered ${response.status}`);
    session = new URL(response.headers.get('Location'), location.href).href;
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    const [receiver] = pc.getReceivers();
    video.srcObject = new MediaStream([receiver.track]);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no WebRTC frames within 5 s')), 5000);
      video.requestVideoFrameCallback(() => {
        clearTimeout(timer);
        resolve();
      });
      video.play().catch(() => {});
    });
  } catch (e) {
    close();
    throw e;
  }
  const onFrame = () => {
    if (session === null) return;
    shown();
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'failed' && rtc?.pc === pc) {
      // Lost: try again (WebRTC first, as on a new page).
      watch(location.hash.slice(1));
    }
  });
  return { pc, close };
}

/** The stream WebSocket; with `pictures` false only its text messages (state and count). */
function openSocket(id, pictures) {
  const query = pictures ? '' : '?pictures=false';
  return new ReconnectingSocket(socketUrl(`/ws/streams/${encodeURIComponent(id)}${query}`), {
    onOpen: () => showMessage(''),
    onBinary: (buffer) => showFrame(buffer),
    onMessage: (m) => {
      if (m.type === 'state') $('#state').textContent = describe(m);
      if (m.type === 'quality') {
        $('#quality').textContent = `quality ${m.quality}${m.divisor > 1 ? `, 1/${m.divisor} size` : ''}`;
      }
      if (m.type === 'count') {
        if (!pictures) {
          $('#count').textContent = String(m.count);
          seen.lastCount = m.count;
        }
        $('#band').textContent = bandText(m.count_low, m.count_high);
      }
    },
    onDown: (tries) => {
      if (tries >= 2) showMessage('The connection to the server is lost; reconnecting…', 'warning');
    },
  });
}

let watchTurn = 0;

async function watch(id) {
  const turn = ++watchTurn;
  watching?.close();
  watching = null;
  rtc?.close();
  rtc = null;
  video.srcObject = null;
  $('#view').hidden = !id;
  if (!id) return;
  $('#count').textContent = '…';
  let session = null;
  // `?transport=websocket` on the page's URL skips WebRTC.
  if (new URL(location.href).searchParams.get('transport') !== 'websocket') {
    try {
      session = await startWebRtc(id);
    } catch (e) {
      console.info(`WebRTC: ${e.message}; frames come over the WebSocket`);
    }
  }
  if (turn !== watchTurn) {
    session?.close();
    return;
  }
  rtc = session;
  seen.transport = rtc ? 'webrtc' : 'websocket';
  video.hidden = !rtc;
  canvas.hidden = Boolean(rtc);
  watching = openSocket(id, !rtc);
  $('#quality').textContent = rtc ? 'WebRTC' : 'best quality';
}

window.addEventListener('pagehide', () => rtc?.close());

async function add(event) {
  event.preventDefault();
  const url = $('#url').value.trim();
  const video = $('#video').value;
  const body = url ? { url } : video ? { video } : null;
  if (!body) {
    showMessage('Give a camera URL or choose a video.', 'info');
    return;
  }
  const response = await fetch('/api/streams', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    showMessage(`Could not add the stream: ${answer.error ?? response.status}`);
    return;
  }
  showMessage('');
  location.hash = answer.id;
  refresh();
}

// A frame older than two seconds: say so, the picture may be frozen.
setInterval(() => {
  if (watching && lastFrameAt && performance.now() - lastFrameAt > 2000) $('#stale').hidden = false;
}, 500);

async function start() {
  await adoptKey();
  $('#add').addEventListener('submit', add);
  window.addEventListener('hashchange', () => watch(location.hash.slice(1)));
  try {
    for (const v of await getJSON('/api/videos')) {
      const option = document.createElement('option');
      option.value = v.id;
      option.textContent = v.name;
      $('#video').append(option);
    }
  } catch (e) {
    showMessage(e.message);
  }
  await refresh();
  setInterval(refresh, 3000);
  watch(location.hash.slice(1));
}

start();
