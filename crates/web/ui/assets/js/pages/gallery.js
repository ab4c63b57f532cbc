// Public gallery: published videos (poster, preview on hover/focus, votes and views) with
// search, city filter and pagination; the trending strip and the competition's dates on
// top.
import { api } from '../api.js';
import { h, replace, num, plural } from '../dom.js';
import { competition, datesNotice } from '../competition.js';
import { trendingStrip } from './trending.js';

const LIMIT = 12;

/** Public videos seen lately, by id: lets the video page open without a search. */
export const seen = new Map();

/** Cities known from the rankings, for the filter's suggestions. */
export async function knownCities() {
  try {
    const rows = await api('GET', '/api/public/rankings', { query: { limit: 100 } });
    return [...new Set(rows.map((r) => r.city).filter(Boolean))].sort((a, b) => a.localeCompare(b));
  } catch {
    return [];
  }
}

export function cityDatalist(id, cities) {
  return h('datalist', { id }, cities.map((c) => h('option', { value: c })));
}

/** Previous / next links; `hasNext` when the page was full. */
export function pager(basePath, query, page, hasNext, label) {
  const link = (p) => {
    const q = new URLSearchParams(query);
    if (p > 1) q.set('page', String(p)); else q.delete('page');
    const s = q.toString();
    return `${basePath}${s ? `?${s}` : ''}`;
  };
  return h('nav', { class: 'pager', 'aria-label': label },
    page > 1
      ? h('a', { class: 'btn', href: link(page - 1), rel: 'prev' }, '← Previous')
      : h('span', { class: 'btn', 'aria-disabled': 'true' }, '← Previous'),
    h('span', { class: 'muted' }, `Page ${num(page)}`),
    hasNext
      ? h('a', { class: 'btn', href: link(page + 1), rel: 'next' }, 'Next →')
      : h('span', { class: 'btn', 'aria-disabled': 'true' }, 'Next →'));
}

export function pageParam(query) {
  const p = Number.parseInt(query.get('page') || '1', 10);
  return Number.isFinite(p) && p >= 1 ? p : 1;
}

/** A frame of the processed video: what cards without a poster (older videos) show. */
function frame(v) {
  return v.processed_url
    ? h('video', { src: `${v.processed_url}#t=2`, preload: 'metadata', muted: true, playsinline: true })
    : h('span', { class: 'thumb-empty' }, 'No preview');
}

/** The card's picture: the poster made from the player's clip, else a frame. */
function poster(v) {
  if (!v.thumbnail_url) return frame(v);
  const img = h('img', { class: 'poster', src: v.thumbnail_url, alt: '', width: '640', height: '360', loading: 'lazy', decoding: 'async' });
  img.addEventListener('error', () => img.replaceWith(frame(v)), { once: true });
  return img;
}

function isWebp(url) {
  try {
    return new URL(url, location.href).pathname.toLowerCase().endsWith('.webp');
  } catch {
    return false;
  }
}

const reducedMotion = window.matchMedia?.('(prefers-reduced-motion: reduce)');

/**
 * Plays the short silent preview over the poster while the card is hovered or holds
 * the keyboard focus, and stops it when both are gone. The clip loads on first use.
 */
function hoverPreview(li, thumb, url) {
  let clip = null;
  const start = () => {
    if (reducedMotion?.matches) return;
    if (!clip) {
      clip = isWebp(url)
        ? h('img', { class: 'preview-clip', alt: '', src: url })
        : h('video', { class: 'preview-clip', src: url, muted: true, loop: true, playsinline: true, preload: 'auto', disablepictureinpicture: true });
      // The attribute alone does not mute an element created by script.
      if (clip.tagName === 'VIDEO') clip.muted = true;
    }
    if (!clip.isConnected) thumb.append(clip);
    li.classList.add('previewing');
    if (clip.tagName === 'VIDEO') clip.play().catch(() => { /* autoplay refused: the poster stays */ });
  };
  const stop = () => {
    if (!clip || li.matches(':hover') || li.contains(document.activeElement)) return;
    li.classList.remove('previewing');
    if (clip.tagName === 'VIDEO') {
      clip.pause();
      clip.currentTime = 0;
    } else {
      clip.remove(); // an animated image stops only when it leaves the page
    }
  };
  li.addEventListener('mouseenter', start);
  li.addEventListener('focusin', start);
  li.addEventListener('mouseleave', () => setTimeout(stop));
  li.addEventListener('focusout', () => setTimeout(stop));
}

function card(v) {
  const thumb = h('a', { class: 'thumb', href: `/app/videos/${v.id}`, tabindex: '-1', 'aria-hidden': 'true' }, poster(v));
  const li = h('li', { class: 'card video-card', dataset: { videoId: v.id } },
    thumb,
    h('div', { class: 'card-body' },
      h('h2', { class: 'card-title' }, h('a', { href: `/app/videos/${v.id}` }, v.title)),
      h('p', { class: 'meta' },
        h('span', { class: 'owner' }, v.owner_name), ' · ',
        h('span', { class: 'city' }, v.owner_city)),
      h('p', { class: 'votes' }, plural(v.votes, 'vote', 'votes'),
        typeof v.views === 'number' ? h('span', { class: 'views' }, ` · ${plural(v.views, 'view', 'views')}`) : null)));
  if (v.preview_url) hoverPreview(li, thumb, v.preview_url);
  return li;
}

export async function render(main, ctx) {
  ctx.setTitle('Gallery');
  const q = ctx.query.get('q') || '';
  const city = ctx.query.get('city') || '';
  const page = pageParam(ctx.query);

  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter videos' },
    h('div', { class: 'field' },
      h('label', { for: 'f-q' }, 'Search titles'),
      h('input', { id: 'f-q', name: 'q', type: 'search', value: q, maxlength: '100', placeholder: 'e.g. freestyle' })),
    h('div', { class: 'field' },
      h('label', { for: 'f-city' }, 'City'),
      h('input', { id: 'f-city', name: 'city', type: 'text', value: city, maxlength: '100', list: 'f-cities', placeholder: 'All cities' })),
    h('div', { class: 'field field-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Search'),
      (q || city) ? h('a', { class: 'btn', href: '/app/' }, 'Clear') : null));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const next = new URLSearchParams();
    for (const key of ['q', 'city']) {
      const v = String(data.get(key) || '').trim();
      if (v) next.set(key, v);
    }
    const s = next.toString();
    ctx.navigate(`/${s ? `?${s}` : ''}`);
  });

  const results = h('div', { class: 'results', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading videos…'));
  const pageHead = h('div', { class: 'page-head' },
    h('h1', {}, 'Gallery'),
    h('p', { class: 'lead' }, 'Published clips from players everywhere. Watch, then vote for your favourites.'));
  // Trending sits above the first page of the unfiltered gallery only.
  const trending = (q || city || page > 1) ? null
    : trendingStrip((list) => {
      // Complete public videos only: the video page plays what it finds here.
      for (const v of list) if (v.processed_url && !seen.has(Number(v.id))) seen.set(Number(v.id), v);
    });
  replace(main, pageHead, trending, form, results);
  competition().then((c) => {
    const notice = datesNotice(c);
    if (notice && ctx.isCurrent()) pageHead.append(notice);
  });

  knownCities().then((cities) => { if (ctx.isCurrent()) form.append(cityDatalist('f-cities', cities)); });

  let videos;
  try {
    videos = await api('GET', '/api/public/videos', { query: { page, limit: LIMIT, q, city } });
  } catch (err) {
    replace(results, h('p', { class: 'error-text' }, err.message));
    return;
  }
  for (const v of videos) seen.set(Number(v.id), v);
  const filtered = q || city;
  if (!videos.length) {
    replace(results,
      h('p', { class: 'empty' }, page > 1
        ? 'No more videos.'
        : filtered ? 'No published video matches these filters.' : 'No video has been published yet.'),
      page > 1 ? pager('/app/', { q, city }, page, false, 'Gallery pages') : null);
    return;
  }
  replace(results,
    h('ul', { class: 'grid', 'aria-label': 'Videos' }, videos.map(card)),
    pager('/app/', Object.fromEntries(Object.entries({ q, city }).filter(([, v]) => v)), page, videos.length === LIMIT, 'Gallery pages'));
}
