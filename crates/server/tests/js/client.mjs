// @ts-check
/**
 * A client generated from openapi/openapi.json — types by openapi-typescript (into
 * generated/schema.d.ts), calls by openapi-fetch — used against a live server. tests/api.rs
 * generates the types, type-checks this file against them with tsc (so a change to the
 * document that breaks clients fails the test), runs it, and checks what it printed against
 * the server's own answers.
 *
 * Usage: node client.mjs BASE_URL API_KEY FRAME_OUT
 * Writes the frame at 1.5 s of the first video to FRAME_OUT, and prints one line of JSON: the
 * videos, the count at 1.5 s, the frame's headers, and the error for an unknown id.
 */
import { writeFileSync } from 'node:fs';
import createClient from 'openapi-fetch';

const [baseUrl, apiKey, frameOut] = process.argv.slice(2);

/** @type {import('openapi-fetch').Client<import('./generated/schema.d.ts').paths>} */
const client = createClient({ baseUrl, headers: { 'X-API-Key': apiKey } });

/**
 * @param {string} what
 * @param {{ error?: unknown, response: Response }} r
 * @returns {never}
 */
function fail(what, r) {
  throw new Error(`${what}: ${r.response.status} ${JSON.stringify(r.error)}`);
}

const videos = await client.GET('/api/videos');
if (!videos.data) fail('listVideos', videos);
const id = videos.data[0].id;

const frame = await client.GET('/api/video_file/frame_optimized', {
  params: { query: { id, t: 1.5, quality: 70, inference: true } },
  parseAs: 'arrayBuffer',
});
if (!frame.data) fail('getFrame', frame);
writeFileSync(frameOut, Buffer.from(frame.data));

// Asked after the frame: the model's result on that exact frame (drawn on it) is the count.
const count = await client.GET('/api/video_file/count_at_time', {
  params: { query: { id, t: 1.5 } },
});
if (!count.data) fail('countAtTime', count);
/** @type {number} */
const pigs = count.data.count;
/** @type {'indexed' | 'interpolated' | 'held' | 'inferred' | 'live'} */
const source = count.data.source;

const missing = await client.GET('/api/videos/{id}', {
  params: { path: { id: '0000000000000000' } },
});
/** @type {string | undefined} */
const message = missing.error?.error;

console.log(JSON.stringify({
  videos: videos.data.map((v) => ({ id: v.id, name: v.name, state: v.index?.state })),
  count: { count: pigs, source, frame_index: count.data.frame_index },
  frame: {
    status: frame.response.status,
    content_type: frame.response.headers.get('content-type'),
    frame_index: frame.response.headers.get('x-frame-index'),
    count: frame.response.headers.get('x-count'),
  },
  missing: { status: missing.response.status, error: message },
}));
