// Entry point: client-side router, navigation bar, error banner and notices.
import { h, replace } from './dom.js';
import * as session from './session.js';
import * as account from './account.js';
import * as gallery from './pages/gallery.js';
import * as video from './pages/video.js';
import * as rankings from './pages/rankings.js';
import * as auth from './pages/auth.js';
import * as myvideos from './pages/myvideos.js';
import * as dashboard from './pages/admin/dashboard.js';
import * as moderation from './pages/admin/moderation.js';
import * as competition from './pages/admin/competition.js';

const BASE = '/app';

const routes = [
  { pattern: /^\/?$/, page: gallery, nav: 'gallery' },
  { pattern: /^\/videos\/(\d+)$/, page: video, nav: 'gallery', keys: ['id'] },
  { pattern: /^\/rankings$/, page: rankings, nav: 'rankings' },
  { pattern: /^\/signin$/, page: auth.signin, nav: 'signin' },
  { pattern: /^\/signup$/, page: auth.signup, nav: 'signup' },
  { pattern: /^\/my$/, page: myvideos, nav: 'my', auth: true },
  // The organizer's pages: signed in, and /api/auth/me said "organizer".
  { pattern: /^\/admin$/, page: dashboard, nav: 'admin', organizer: true },
  { pattern: /^\/admin\/moderation$/, page: moderation, nav: 'admin', organizer: true },
  { pattern: /^\/admin\/competition$/, page: competition, nav: 'admin', organizer: true },
];

const main = document.getElementById('main');
let cleanup = null;
let renderId = 0;

// ---- banner (errors) and notice (confirmations) ----

export function showError(message) {
  const banner = document.getElementById('banner');
  document.getElementById('banner-text').textContent = message;
  banner.hidden = false;
}

export function clearError() {
  document.getElementById('banner').hidden = true;
}

let noticeTimer = null;
export function notify(message) {
  const el = document.getElementById('notice');
  el.textContent = message;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, 6000);
}

// ---- navigation ----

export function navigate(to, { replace: replaceState = false } = {}) {
  const url = to.startsWith(BASE) ? to : BASE + (to.startsWith('/') ? to : `/${to}`);
  if (replaceState) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render({ focus: true });
}

function renderNav() {
  const nav = document.getElementById('nav');
  const s = session.current();
  const items = [
    h('li', {}, h('a', { href: `${BASE}/`, 'data-nav': 'gallery' }, 'Gallery')),
    h('li', {}, h('a', { href: `${BASE}/rankings`, 'data-nav': 'rankings' }, 'Rankings')),
  ];
  if (s) {
    items.push(h('li', {}, h('a', { href: `${BASE}/my`, 'data-nav': 'my' }, 'My videos')));
    if (s.role === 'organizer') items.push(h('li', {}, h('a', { href: `${BASE}/admin`, 'data-nav': 'admin' }, 'Organizer')));
    items.push(
      h('li', { class: 'who' },
        h('span', { class: 'muted', title: 'Signed in' }, s.email || 'Signed in'),
        h('button', {
          type: 'button', class: 'btn btn-small', id: 'signout',
          onclick: () => { session.signOut(); notify('You are signed out.'); navigate('/'); },
        }, 'Sign out')),
    );
  } else {
    items.push(
      h('li', {}, h('a', { href: `${BASE}/signin`, 'data-nav': 'signin' }, 'Sign in')),
      h('li', {}, h('a', { href: `${BASE}/signup`, 'data-nav': 'signup', class: 'btn btn-primary btn-small' }, 'Sign up')),
    );
  }
  replace(nav, items);
  markCurrent();
}

function markCurrent() {
  const path = location.pathname.slice(BASE.length);
  const route = routes.find((r) => r.pattern.test(path));
  for (const a of document.querySelectorAll('#nav a[data-nav]')) {
    if (route && a.dataset.nav === route.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function render({ focus = false } = {}) {
  const id = ++renderId;
  if (cleanup) {
    try { cleanup(); } catch { /* a page failing to clean up must not block the next */ }
    cleanup = null;
  }
  clearError();
  markCurrent();
  const path = location.pathname.slice(BASE.length).replace(/\/+$/, '') || '/';
  const query = new URLSearchParams(location.search);
  let match = null;
  let route = null;
  for (const r of routes) {
    match = path.match(r.pattern);
    if (match) { route = r; break; }
  }
  if (!route) {
    document.title = 'Not found · skillreel';
    replace(main, h('h1', {}, 'Page not found'),
      h('p', {}, 'There is nothing here. ', h('a', { href: `${BASE}/` }, 'Go to the gallery'), '.'));
    return;
  }
  if ((route.auth || route.organizer) && !session.current()) {
    navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
    return;
  }
  if (route.organizer) {
    replace(main, h('p', { class: 'muted' }, 'Loading…'));
    const role = await account.role();
    if (id !== renderId) return;
    if (!session.current()) return; // signed out meanwhile (refused token): onChange redirects
    if (role !== 'organizer') {
      document.title = 'Organizers only · skillreel';
      replace(main, h('h1', {}, 'Organizers only'),
        h('p', {}, 'These pages are for the competition\'s organizers. ', h('a', { href: `${BASE}/` }, 'Go to the gallery'), '.'));
      return;
    }
  }
  const params = {};
  (route.keys || []).forEach((k, i) => { params[k] = match[i + 1]; });
  const ctx = {
    params, query, navigate, notify, showError,
    setTitle: (t) => { document.title = `${t} · skillreel`; },
    isCurrent: () => id === renderId,
  };
  replace(main, h('p', { class: 'muted' }, 'Loading…'));
  try {
    const result = await route.page.render(main, ctx);
    if (id !== renderId) {
      if (typeof result === 'function') result();
      return;
    }
    cleanup = typeof result === 'function' ? result : null;
  } catch (err) {
    if (id !== renderId) return;
    replace(main, h('h1', {}, 'Something went wrong'),
      h('p', {}, err?.message || 'This page could not be shown.'),
      h('p', {}, h('button', { type: 'button', class: 'btn', onclick: () => render() }, 'Try again')));
  }
  if (focus && id === renderId) {
    const heading = main.querySelector('h1');
    (heading || main).setAttribute('tabindex', '-1');
    (heading || main).focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
}

// Same-origin links under /app are handled here, without a page load.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !(url.pathname === BASE || url.pathname.startsWith(`${BASE}/`))) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', () => render({ focus: true }));

session.onChange((reason) => {
  renderNav();
  if (reason) {
    showError(reason);
    const path = location.pathname.slice(BASE.length);
    if (routes.find((r) => (r.auth || r.organizer) && r.pattern.test(path))) {
      history.replaceState(null, '', `${BASE}/signin?next=${encodeURIComponent(location.pathname)}`);
      render({ focus: true }).then(() => showError(reason));
    }
  }
});

// Anything unexpected becomes a readable banner, never a blank page.
window.addEventListener('error', (e) => {
  showError(`Unexpected error: ${e.message || 'see the browser console'}. Reload the page if something looks wrong.`);
});
window.addEventListener('unhandledrejection', (e) => {
  showError(e.reason?.message || 'Unexpected error. Reload the page if something looks wrong.');
});

document.getElementById('banner-close').addEventListener('click', clearError);

renderNav();
session.current(); // signs out an expired session before the first render
account.refreshRole(); // the role may have changed (or the account been suspended) since
render();
