// The signed-in account as the server sees it (GET /api/auth/me): its role decides
// whether the organizer's pages are offered. Asked after each sign-in and once per page
// load with a stored token; a suspended account is signed out by the API client.
import { api } from './api.js';
import * as session from './session.js';

let pending = null;

/**
 * Asks the server for the account's role and records it in the session. Resolves with
 * the role, or null when signed out (or the token was refused: the API client has
 * signed the player out then). Concurrent calls share one request.
 */
export function refreshRole() {
  if (!session.current()) return Promise.resolve(null);
  if (!pending) {
    pending = api('GET', '/api/auth/me', { auth: true })
      .then((me) => {
        session.setRole(me.role);
        return me.role;
      })
      .catch((err) => {
        // Signed out already on 401/403; on a network error keep what was known.
        if (err.status === 401 || err.status === 403) return null;
        return session.current()?.role ?? null;
      })
      .finally(() => { pending = null; });
  }
  return pending;
}

/** The role, asking the server only when this session does not know it yet. */
export async function role() {
  const s = session.current();
  if (!s) return null;
  return s.role ?? refreshRole();
}
