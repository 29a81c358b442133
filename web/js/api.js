// The server's API as the pages use it: JSON calls whose failures carry the server's own words,
// the API key (traded once for the session cookie, which <video>, <img> and WebSockets send),
// and small formatting helpers.

/** A failed call: `status` is the HTTP status, or 0 when the server could not be reached. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Fetches `path`; throws ApiError with the server's message on a non-2xx answer. */
export async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { credentials: 'same-origin', ...options });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'The server cannot be reached.');
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error ?? message;
    } catch {
      // not our JSON error: keep the status line
    }
    throw new ApiError(response.status, message);
  }
  return response;
}

export async function getJSON(path, options) {
  return (await call(path, options)).json();
}

/**
 * With `?api_key=KEY` in the page's address (a server with API keys), trade the key for the
 * session cookie once and take it out of the address bar.
 */
export async function adoptKey() {
  const url = new URL(location.href);
  const key = url.searchParams.get('api_key');
  if (!key) return;
  await fetch(`/api/videos?api_key=${encodeURIComponent(key)}`, { credentials: 'same-origin' });
  url.searchParams.delete('api_key');
  history.replaceState(null, '', url);
}

/** 75.4 → "1:15.400"; with `short`, "1:15". */
/** "6–8" where the model is unsure of a count, nothing where it is sure. */
export function bandText(low, high) {
  return low === undefined || low === high ? '' : `${low}–${high}`;
}

export function formatTime(seconds, short = false) {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.max(0, seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  const sec = short ? String(Math.floor(rest)).padStart(2, '0') : rest.toFixed(3).padStart(6, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export function formatBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

/** Shows `text` in the page's message area (role=alert), or hides it when `text` is empty. */
export function showMessage(text, kind = 'error') {
  const el = document.getElementById('message');
  el.textContent = text ?? '';
  el.className = `message ${kind}`;
  el.hidden = !text;
}
