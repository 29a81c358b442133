// Live streams: add a camera (or a library video played in a loop), pick one, watch it with its
// count. Frames come over the stream WebSocket (docs/streams.md): each binary message is a
// 24-byte header (frame id, timestamp, count, JPEG length; little-endian) and the JPEG, so the
// count shown is always the one of the picture shown. The server adapts the quality to what
// this page keeps up with; the connection comes back by itself after a drop.

import { adoptKey, bandText, getJSON, showMessage } from './api.js';
import { ReconnectingSocket, socketUrl } from './socket.js';

const $ = (selector) => document.querySelector(selector);
const canvas = $('#picture');
/** Figures the browser test reads. */
const seen = { frames: 0, lastFrameId: null, lastCount: null };
window.pigweight = seen;

let watching = null;
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
  seen.frames += 1;
  seen.lastFrameId = id;
  seen.lastCount = count;
  lastFrameAt = performance.now();
  shownAt.push(lastFrameAt);
  shownAt = shownAt.filter((t) => t > lastFrameAt - 2000);
  $('#fps').textContent = `${(shownAt.length / 2).toFixed(1)} fps`;
  $('#stale').hidden = true;
}

function watch(id) {
  watching?.close();
  watching = null;
  $('#view').hidden = !id;
  if (!id) return;
  $('#count').textContent = '…';
  watching = new ReconnectingSocket(socketUrl(`/ws/streams/${encodeURIComponent(id)}`), {
    onOpen: () => showMessage(''),
    onBinary: (buffer) => showFrame(buffer),
    onMessage: (m) => {
      if (m.type === 'state') $('#state').textContent = describe(m);
      if (m.type === 'quality') {
        $('#quality').textContent = `quality ${m.quality}${m.divisor > 1 ? `, 1/${m.divisor} size` : ''}`;
      }
      if (m.type === 'count') $('#band').textContent = bandText(m.count_low, m.count_high);
    },
    onDown: (tries) => {
      if (tries >= 2) showMessage('The connection to the server is lost; reconnecting…', 'warning');
    },
  });
  $('#quality').textContent = 'best quality';
}

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
