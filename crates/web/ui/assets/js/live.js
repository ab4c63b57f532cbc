// Live processing status of one video: GET /api/videos/{id}/events (text/event-stream).
//
// EventSource cannot send an Authorization header, so the stream is read with fetch()
// and parsed here. Each `status` / `progress` event carries {id, status, progress,
// error?}; the first one is the current state and the server ends the stream after
// `processed` or `failed` (or after a few minutes: then it is simply reopened, with
// Last-Event-ID so nothing is sent twice). A connection that fails or drops is retried
// with a growing delay, and the video is read once (GET) before each such retry so a
// change missed meanwhile shows even while the stream cannot be had.
import { api, ApiError } from './api.js';
import * as session from './session.js';

const FINAL = new Set(['processed', 'public', 'failed']);
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000];

/**
 * Splits a text/event-stream into events. Feed it decoded text; it calls
 * `onEvent({event, data, id})` for each complete event and keeps the rest.
 */
export function sseParser(onEvent) {
  let buffer = '';
  let event = '';
  let data = [];
  let id = null;
  const line = (text) => {
    if (text === '') {
      if (data.length) onEvent({ event: event || 'message', data: data.join('\n'), id });
      event = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return; // comment (keep-alive)
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  };
  return (chunk) => {
    buffer += chunk;
    // A CR at the very end may be the first half of a CRLF cut by the network: wait
    // for the next chunk, or the LF would end an extra, empty line (and the event).
    const held = buffer.endsWith('\r') ? 1 : 0;
    const lines = buffer.slice(0, buffer.length - held).split(/\r\n|\r|\n/);
    buffer = lines.pop() + (held ? '\r' : '');
    for (const l of lines) line(l);
  };
}

/**
 * Follows video `id` until it is processed or failed. `onUpdate(partial)` receives
 * {status, progress, error} from events and full video bodies after a reconnect;
 * `onGone()` is called when the video no longer exists. Returns a stop function.
 */
export function follow(id, { onUpdate, onGone = () => {} }) {
  const controller = new AbortController();
  let attempt = 0;
  let finished = false;
  let lastId = null;

  const done = () => {
    finished = true;
    controller.abort();
  };

  const handle = ({ event, data, id: eventId }) => {
    if (eventId) lastId = eventId;
    if (event !== 'status' && event !== 'progress' && event !== 'message') return;
    let body;
    try {
      body = JSON.parse(data);
    } catch {
      return;
    }
    attempt = 0; // the stream works: a later drop starts the backoff over
    onUpdate(body);
    if (FINAL.has(body.status)) done();
  };

  /** Reads one stream to its end; resolves true when it ended cleanly, throws when it failed. */
  async function once() {
    const token = session.token();
    if (!token) { done(); return true; }
    const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${token}` };
    if (lastId) headers['Last-Event-ID'] = lastId;
    const response = await fetch(`/api/videos/${id}/events`, { headers, signal: controller.signal, cache: 'no-store' });
    if (response.status === 401) {
      session.signOut('Your session has expired or is no longer valid. Please sign in again.');
      done();
      return true;
    }
    if (response.status === 404) { onGone(); done(); return true; }
    if (!response.ok || !response.body) throw new Error(`events answered ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const feed = sseParser(handle);
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      feed(value);
      if (finished) { reader.cancel().catch(() => {}); return true; }
    }
    return true;
  }

  (async () => {
    while (!finished) {
      let clean = false;
      try {
        clean = await once();
      } catch {
        if (controller.signal.aborted) return;
      }
      if (finished) return;
      // Ended by the server before the final state (its time limit): listen again.
      if (clean && attempt === 0) { attempt = 1; continue; }
      // Failed or dropped: wait, read the current state, and listen again.
      const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt += 1;
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (finished) return;
      try {
        const detail = await api('GET', `/api/videos/${id}`, { auth: true, signal: controller.signal });
        onUpdate(detail);
        if (FINAL.has(detail.status)) done();
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) { onGone(); done(); }
        if (err instanceof ApiError && err.status === 401) done();
      }
    }
  })();

  return done;
}
