// One public video: player (a view is counted when playback starts), vote button, and
// the competition's voting date.
import { api } from '../api.js';
import { h, replace, plural, when } from '../dom.js';
import * as session from '../session.js';
import { competition, datesNotice, votingClosed } from '../competition.js';
import { seen } from './gallery.js';

/** Finds a public video by id: from the gallery just seen, else by scanning the list. */
async function find(id) {
  if (seen.has(id)) return seen.get(id);
  // There is no public "one video" route: scan the newest pages.
  for (let page = 1; page <= 20; page += 1) {
    const rows = await api('GET', '/api/public/videos', { query: { page, limit: 100 } });
    for (const v of rows) seen.set(Number(v.id), v);
    if (seen.has(id)) return seen.get(id);
    if (rows.length < 100) break;
  }
  return null;
}

/** Ids of the signed-in player's own videos (empty when signed out). */
async function ownIds() {
  if (!session.current()) return new Set();
  try {
    const mine = await api('GET', '/api/videos', { auth: true });
    return new Set(mine.map((v) => Number(v.video_id)));
  } catch {
    return new Set();
  }
}

export async function render(main, ctx) {
  const id = Number(ctx.params.id);
  const [v, own, dates] = await Promise.all([find(id), ownIds(), competition()]);
  if (!ctx.isCurrent()) return;
  if (!v) {
    ctx.setTitle('Video not found');
    replace(main, h('h1', {}, 'Video not found'),
      h('p', {}, 'This video does not exist or is not published. ', h('a', { href: '/app/' }, 'Back to the gallery'), '.'));
    return;
  }
  ctx.setTitle(v.title);

  const votes = h('p', { class: 'votes big', id: 'vote-count' }, plural(v.votes, 'vote', 'votes'));
  const message = h('p', { class: 'vote-message', id: 'vote-message', role: 'status', 'aria-live': 'polite' });
  const action = h('div', { class: 'vote-action' });

  const show = (state) => {
    let control;
    if (state === 'signed-out') {
      control = h('a', { class: 'btn btn-primary', id: 'vote-button', href: `/app/signin?next=${encodeURIComponent(`/app/videos/${id}`)}` }, 'Sign in to vote');
    } else if (state === 'own') {
      control = h('button', { type: 'button', class: 'btn', id: 'vote-button', disabled: true }, 'Your own video');
    } else if (state === 'closed') {
      control = h('button', { type: 'button', class: 'btn', id: 'vote-button', disabled: true }, 'Voting is closed');
    } else if (state === 'voted') {
      control = h('button', { type: 'button', class: 'btn btn-done', id: 'vote-button', disabled: true, 'aria-pressed': 'true' }, '✓ Voted');
    } else {
      control = h('button', { type: 'button', class: 'btn btn-primary', id: 'vote-button', onclick: vote }, 'Vote');
    }
    replace(action, control);
  };

  async function vote() {
    const button = action.querySelector('button');
    button.disabled = true;
    button.textContent = 'Voting…';
    message.textContent = '';
    try {
      await api('POST', `/api/public/videos/${id}/vote`, { auth: true });
      session.rememberVote(id);
      v.votes += 1;
      votes.textContent = plural(v.votes, 'vote', 'votes');
      message.textContent = 'Thanks, your vote is registered.';
      show('voted');
    } catch (err) {
      message.textContent = err.message;
      if (err.status === 400) { session.rememberVote(id); show('voted'); }
      else if (err.status === 403 && err.code === 'voting-closed') show('closed');
      else if (err.status === 403) show('own');
      else if (err.status === 401) show('signed-out');
      else show('can-vote');
    }
  }

  const state = votingClosed(dates) ? 'closed'
    : !session.current() ? 'signed-out'
      : own.has(id) ? 'own'
        : session.votedIds().has(id) ? 'voted' : 'can-vote';
  show(state);

  const player = v.processed_url
    ? h('video', { class: 'video-player', controls: true, preload: 'metadata', playsinline: true, src: v.processed_url, poster: v.thumbnail_url || null, 'aria-label': `Video: ${v.title}` })
    : h('p', { class: 'thumb-empty' }, 'This video cannot be played right now.');
  const views = h('p', { class: 'muted', id: 'view-count' }, typeof v.views === 'number' ? plural(v.views, 'view', 'views') : '');
  // One view per page visit, when playback first starts. The count shown stays the
  // server's: it counts a viewer at most once an hour, and the answer does not say
  // whether this one counted.
  player.addEventListener?.('play', () => {
    api('POST', `/api/public/videos/${id}/view`, { auth: Boolean(session.current()) })
      .catch(() => { /* a view not counted is not the viewer's problem */ });
  }, { once: true });
  player.addEventListener?.('error', () => {
    message.textContent = 'The video could not be loaded. The link may have expired: reload the page.';
  });

  replace(main,
    h('p', { class: 'crumbs' }, h('a', { href: '/app/' }, '← Gallery')),
    h('article', { class: 'video-page' },
      h('div', { class: 'player-wrap' }, player),
      h('div', { class: 'video-side' },
        h('h1', {}, v.title),
        h('p', { class: 'meta' }, 'by ', h('strong', {}, v.owner_name), ' · ', v.owner_city),
        h('p', { class: 'muted' }, `Uploaded ${when(v.uploaded_at)}`),
        votes, views, action, message, datesNotice(dates, 'video-dates'))));
}
