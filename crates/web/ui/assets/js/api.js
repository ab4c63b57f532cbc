// The HTTP API client: JSON in and out, errors as ApiError, 401 signs out.
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

function expired(status, sentToken) {
  if (status === 401 && sentToken) {
    session.signOut('Your session has expired or is no longer valid. Please sign in again.');
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
    expired(response.status, sentToken);
    throw new ApiError(response.status, data);
  }
  return data;
}
