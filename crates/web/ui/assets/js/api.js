// The HTTP API client: JSON in and out, errors as ApiError, 401 and a suspended account
// sign out.
import * as session from './session.js';

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body.detail === 'string' ? body.detail : null;
    super(detail || defaultMessage(status));
    this.status = status;
    this.code = body?.code ?? null;
    /** Field problems of a 422: [{field, message}]. */
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
  }
}

function defaultMessage(status) {
  if (status === 0) return 'Could not reach the server. Check your connection and try again.';
  if (status >= 500) return 'The server had a problem. Please try again in a moment.';
  return `Request failed (HTTP ${status}).`;
}

function parse(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The message a suspended account is signed out with. */
export const SUSPENDED_MESSAGE = 'Your account has been suspended by the competition\'s organizers, so you have been signed out. '
  + 'Contact them if you think this is a mistake.';

function expired(status, code, sentToken) {
  if (!sentToken) return;
  if (status === 401) {
    session.signOut('Your session has expired or is no longer valid. Please sign in again.');
  } else if (status === 403 && code === 'account-suspended') {
    session.signOut(SUSPENDED_MESSAGE);
  }
}

/**
 * Calls the API. `auth: true` sends the bearer token (and fails fast when signed out);
 * `signal` aborts the request. Resolves with the parsed body; rejects with ApiError.
 */
export async function api(method, path, { body, auth = false, query, signal } = {}) {
  const headers = { Accept: 'application/json' };
  let sentToken = null;
  if (auth) {
    sentToken = session.token();
    if (!sentToken) throw new ApiError(401, { detail: 'Please sign in first.' });
    headers.Authorization = `Bearer ${sentToken}`;
  }
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let url = path;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
    }
    const s = qs.toString();
    if (s) url += `?${s}`;
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(0, null);
  }
  const data = parse(await response.text().catch(() => ''));
  if (!response.ok) {
    expired(response.status, data?.code, sentToken);
    throw new ApiError(response.status, data);
  }
  return data;
}

/**
 * Downloads an authenticated file (e.g. a CSV): fetch with the bearer token, then a
 * Blob saved under `filename`. Rejects with ApiError like `api`.
 */
export async function download(path, filename, { query } = {}) {
  const sentToken = session.token();
  if (!sentToken) throw new ApiError(401, { detail: 'Please sign in first.' });
  let url = path;
  const qs = new URLSearchParams(Object.entries(query || {}).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  if (qs.toString()) url += `?${qs}`;
  let response;
  try {
    response = await fetch(url, { headers: { Authorization: `Bearer ${sentToken}` } });
  } catch {
    throw new ApiError(0, null);
  }
  if (!response.ok) {
    const data = parse(await response.text().catch(() => ''));
    expired(response.status, data?.code, sentToken);
    throw new ApiError(response.status, data);
  }
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The click starts the download synchronously; the URL can go right after.
  setTimeout(() => URL.revokeObjectURL(href), 1000);
  return blob;
}
