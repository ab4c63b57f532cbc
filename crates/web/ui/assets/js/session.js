// The signed-in player: token (and role, once known) in localStorage, votes cast this
// session in sessionStorage.

const KEY = 'skillreel.session';
const listeners = new Set();

function read() {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) || 'null');
    if (s && typeof s.token === 'string') return s;
  } catch { /* corrupt entry: treated as signed out */ }
  return null;
}

/**
 * The current session `{token, email, expiresAt, role}`, or null (also once expired).
 * `role` is `"player"`, `"organizer"`, or undefined until /api/auth/me answered.
 */
export function current() {
  const s = read();
  if (s && s.expiresAt && Date.now() >= s.expiresAt) {
    signOut('Your session has expired. Please sign in again.');
    return null;
  }
  return s;
}

export function token() {
  return current()?.token ?? null;
}

export function signIn({ access_token, expires_in }, email) {
  const expiresAt = expires_in ? Date.now() + Number(expires_in) * 1000 : null;
  localStorage.setItem(KEY, JSON.stringify({ token: access_token, email, expiresAt }));
  notify(null);
}

/** Records the account's role (from /api/auth/me); listeners hear of a change. */
export function setRole(role) {
  const s = read();
  if (!s || s.role === role) return;
  localStorage.setItem(KEY, JSON.stringify({ ...s, role }));
  notify(null);
}

/** True when the signed-in account is an organizer (as far as /api/auth/me said). */
export function isOrganizer() {
  return current()?.role === 'organizer';
}

/** Clears the session; `reason`, when given, is shown to the player. */
export function signOut(reason = null) {
  const had = read() !== null;
  localStorage.removeItem(KEY);
  if (had || reason) notify(reason);
}

/** Called with the sign-out reason (or null) whenever the session changes. */
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function notify(reason) {
  for (const fn of listeners) fn(reason);
}

// Another tab signing in or out.
window.addEventListener('storage', (e) => {
  if (e.key === KEY) notify(null);
});

function votesKey() {
  return `skillreel.votes.${current()?.email ?? ''}`;
}

/** Ids of the videos this player voted for (as far as this session knows). */
export function votedIds() {
  try {
    return new Set(JSON.parse(sessionStorage.getItem(votesKey()) || '[]'));
  } catch {
    return new Set();
  }
}

export function rememberVote(videoId) {
  const ids = votedIds();
  ids.add(Number(videoId));
  sessionStorage.setItem(votesKey(), JSON.stringify([...ids]));
}
