// The competition's public dates (GET /api/public/competition): when uploads and voting
// close. Read at most once a minute per page session; null dates mean open.
import { api } from './api.js';
import { h, when } from './dom.js';

const MAX_AGE_MS = 60_000;

let cached = null; // {at, promise}

/**
 * `{uploads_close_at, voting_close_at, uploads_open, voting_open}` (the server's clock
 * decides the last two); open when unknown (the server is asked again later).
 */
export function competition() {
  if (!cached || Date.now() - cached.at > MAX_AGE_MS) {
    const promise = api('GET', '/api/public/competition')
      .then((c) => ({
        uploads_close_at: c?.uploads_close_at ?? null,
        voting_close_at: c?.voting_close_at ?? null,
        uploads_open: c?.uploads_open !== false,
        voting_open: c?.voting_open !== false,
      }))
      .catch(() => {
        cached = null;
        return { uploads_close_at: null, voting_close_at: null, uploads_open: true, voting_open: true };
      });
    cached = { at: Date.now(), promise };
  }
  return cached.promise;
}

/** Drops the cached dates (after an organizer changed them). */
export function forget() {
  cached = null;
}

/** True once the date has passed. */
export function isPast(iso, now = new Date()) {
  return Boolean(iso) && new Date(iso) <= now;
}

/** Uploads are closed: the server said so, or the date passed since it was asked. */
export function uploadsClosed(c) {
  return c.uploads_open === false || isPast(c.uploads_close_at);
}

/** Voting is closed (as for uploads). */
export function votingClosed(c) {
  return c.voting_open === false || isPast(c.voting_close_at);
}

/** Sentences about the dates set ("Voting closes …"), empty when both are open. */
export function phrases(c, now = new Date()) {
  const out = [];
  if (c.uploads_close_at) {
    out.push(isPast(c.uploads_close_at, now)
      ? `Uploads closed on ${when(c.uploads_close_at)}.`
      : `Uploads close on ${when(c.uploads_close_at)}.`);
  }
  if (c.voting_close_at) {
    out.push(isPast(c.voting_close_at, now)
      ? `Voting closed on ${when(c.voting_close_at)}: the rankings are final.`
      : `Voting closes on ${when(c.voting_close_at)}.`);
  }
  return out;
}

/** A small notice with the dates, or null when nothing is set. */
export function datesNotice(c, id = 'competition-dates') {
  const lines = phrases(c);
  if (!lines.length) return null;
  const closed = isPast(c.uploads_close_at) || isPast(c.voting_close_at);
  return h('p', { class: closed ? 'dates-notice closed' : 'dates-notice', id }, lines.join(' '));
}
