// The API from the test's side (node fetch): accounts, a published video, the rankings.
// For the state a browser test needs before it starts, not for what it tests.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { BASE_URL, eventually } from './lib.js';

export const PASSWORD = 'correct horse battery';

/** Calls the API; resolves with the parsed body, throws with the status and body. */
export async function call(method, path, { token, body, form } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(BASE_URL + path, { method, headers, body: payload });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!res.ok) {
    const err = new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    err.status = res.status;
    err.body = data;
    throw err;
  }
  return data;
}

/**
 * Signs `p` ({first, last, email, city, country}) up, or in when the account exists
 * (a test run again against the same system); returns `{token, id}`.
 */
export async function account(p) {
  try {
    await call('POST', '/api/auth/signup', {
      body: {
        first_name: p.first, last_name: p.last, email: p.email, city: p.city, country: p.country,
        password1: PASSWORD, password2: PASSWORD,
      },
    });
  } catch (err) {
    if (err.status !== 400 && err.status !== 409) throw err;
  }
  const { access_token: token } = await call('POST', '/api/auth/login', { body: { email: p.email, password: PASSWORD } });
  const me = await call('GET', '/api/auth/me', { token });
  return { token, id: me.id, role: me.role };
}

/**
 * Uploads `file` as `title` (the classic multipart route), waits for the worker to
 * process it and publishes it; returns the video id.
 */
export async function publishedVideo(token, file, title, { timeout = 300_000 } = {}) {
  const form = new FormData();
  form.append('title', title);
  form.append('video_file', new Blob([readFileSync(file)], { type: 'video/mp4' }), basename(file));
  const created = await call('POST', '/api/videos/upload', { token, form });
  const id = Number(created.video_id ?? created.id);
  await eventually(async () => {
    const v = await call('GET', `/api/videos/${id}`, { token });
    if (v.status === 'failed') throw Object.assign(new Error(`processing failed: ${v.error}`), { fatal: true });
    return v.status === 'processed';
  }, { timeout, interval: 1000, message: `video ${id} to be processed` });
  await call('POST', `/api/videos/${id}/publish`, { token });
  return id;
}

/** Every row of the public rankings (all pages), optionally of one city. */
export async function allRankings(city = '') {
  const rows = [];
  for (let page = 1; page <= 100; page += 1) {
    const q = new URLSearchParams({ page: String(page), limit: '100' });
    if (city) q.set('city', city);
    const chunk = await call('GET', `/api/public/rankings?${q}`);
    rows.push(...chunk);
    if (chunk.length < 100) break;
  }
  return rows;
}

/** Every public video (all pages) matching the search `q`. */
export async function publicVideos(q = '') {
  const rows = [];
  for (let page = 1; page <= 100; page += 1) {
    const qs = new URLSearchParams({ page: String(page), limit: '100' });
    if (q) qs.set('q', q);
    const chunk = await call('GET', `/api/public/videos?${qs}`);
    rows.push(...chunk);
    if (chunk.length < 100) break;
  }
  return rows;
}

/** Parses a CSV file (RFC 4180: quoted fields, doubled quotes, CRLF or LF). */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i += 1; } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(field); field = ''; } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}
