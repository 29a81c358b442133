// The library page: every video with its duration, size, index state (a progress bar while it
// is indexed) and its count over time in miniature; upload a file; open one in the player.

import { adoptKey, formatBytes, formatTime, getJSON, showMessage } from './api.js';

const list = document.getElementById('videos');
/** Facts (`getVideo`) and count series already fetched, by video id. */
const details = new Map();
const series = new Map();
let refreshTimer = 0;

function stateText(index) {
  if (!index) return 'waiting to be indexed';
  switch (index.state) {
    case 'queued': return 'queued for indexing';
    case 'indexing': return `indexing: ${index.pass} pass, ${Math.floor(index.percent)}%` +
      (index.eta_s ? `, about ${Math.ceil(index.eta_s)} s left` : '');
    case 'done': return 'indexed';
    default: return `indexing failed: ${index.reason}`;
  }
}

/** The count over time, drawn small: max as a band, mean as a line. */
function drawSpark(canvas, s) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * dpr);
  canvas.height = Math.round(canvas.clientHeight * dpr);
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (!s || !s.buckets.length) return;
  const lo = Math.max(0, Math.min(...s.buckets.map((b) => b.min)) - 1);
  const hi = Math.max(lo + 2, Math.max(...s.buckets.map((b) => b.max)) + 1);
  const w = canvas.width / ((s.to - s.from) / s.bucket_s);
  const y = (v) => canvas.height - ((v - lo) / (hi - lo)) * (canvas.height - 2 * dpr);
  s.buckets.forEach((b, i) => {
    g.fillStyle = 'rgba(94, 200, 120, 0.3)';
    g.fillRect(i * w, y(b.max), Math.max(w, 1), y(b.min) - y(b.max) + dpr);
    g.fillStyle = '#5ec878';
    g.fillRect(i * w, y(b.mean) - dpr, Math.max(w, 1), 2 * dpr);
  });
}

function render(videos) {
  if (!videos.length) {
    list.innerHTML = '<li class="empty">No videos yet: upload one, or copy files into the server\'s video folder.</li>';
    return;
  }
  const items = videos.map((v) => {
    const li = document.createElement('li');
    li.className = 'video';
    li.dataset.id = v.id;
    li.dataset.state = v.index?.state ?? '';
    const link = document.createElement('a');
    link.href = `/player.html?id=${encodeURIComponent(v.id)}`;
    link.textContent = v.name;
    const facts = document.createElement('span');
    facts.className = 'facts';
    const duration = v.duration ?? details.get(v.id)?.duration;
    facts.textContent = `${duration ? formatTime(duration, true) : '–'} · ${formatBytes(v.size)}`;
    const truncatedFrom = v.truncated_from ?? details.get(v.id)?.truncated_from;
    if (truncatedFrom) {
      const warning = document.createElement('span');
      warning.className = 'warning';
      warning.textContent = ` · the file ends early: ${formatTime(duration ?? 0, true)} of ` +
        `${formatTime(truncatedFrom, true)} can be read`;
      facts.append(warning);
    }
    const state = document.createElement('div');
    state.className = 'state';
    state.textContent = stateText(v.index);
    if (v.index?.state === 'indexing' || v.index?.state === 'queued') {
      const bar = document.createElement('progress');
      bar.max = 100;
      bar.value = v.index.percent;
      state.prepend(bar);
    }
    const spark = document.createElement('canvas');
    spark.setAttribute('aria-hidden', 'true');
    li.append(link, facts, state, spark);
    return li;
  });
  list.replaceChildren(...items);
  videos.forEach((v, i) => drawSpark(items[i].querySelector('canvas'), series.get(v.id)));
}

async function refresh() {
  clearTimeout(refreshTimer);
  let videos;
  try {
    videos = await getJSON('/api/videos');
  } catch (e) {
    showMessage(e.message);
    refreshTimer = setTimeout(refresh, 5000);
    return;
  }
  if (document.getElementById('message').dataset.transient) showMessage('');
  await Promise.all(
    videos.map(async (v) => {
      try {
        if (v.duration == null && !details.has(v.id)) {
          details.set(v.id, await getJSON(`/api/videos/${v.id}`));
        }
        const known = series.get(v.id);
        if (v.index && (!known || !known.complete)) {
          series.set(v.id, await getJSON(`/api/videos/${v.id}/counts?points=200`));
        }
      } catch {
        // an unreadable file: its state line says why
      }
    }),
  );
  render(videos);
  const busy = videos.some((v) => !v.index || v.index.state === 'queued' || v.index.state === 'indexing');
  refreshTimer = setTimeout(refresh, busy ? 1000 : 10000);
}

function upload(event) {
  event.preventDefault();
  const file = document.getElementById('file').files[0];
  if (!file) {
    showMessage('Choose a video file first.', 'info');
    return;
  }
  const bar = document.getElementById('upload-progress');
  const request = new XMLHttpRequest();
  request.open('POST', `/api/videos?name=${encodeURIComponent(file.name)}`);
  request.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
  request.upload.onprogress = (e) => {
    bar.hidden = false;
    bar.value = e.lengthComputable ? e.loaded / e.total : 0;
  };
  request.onload = () => {
    bar.hidden = true;
    if (request.status === 201) {
      showMessage(`${file.name} uploaded; indexing starts now.`, 'info');
      document.getElementById('message').dataset.transient = '1';
      refresh();
    } else {
      let message = `${request.status} ${request.statusText}`;
      try {
        message = JSON.parse(request.responseText).error;
      } catch {
        // keep the status line
      }
      showMessage(`Upload failed: ${message}`);
    }
  };
  request.onerror = () => {
    bar.hidden = true;
    showMessage('Upload failed: the server cannot be reached.');
  };
  request.send(file);
}

document.getElementById('upload').addEventListener('submit', upload);
adoptKey().then(refresh);
