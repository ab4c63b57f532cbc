// The gallery's "Trending" strip: the public videos with the most votes in the last
// 24 hours (GET /api/public/trending), ties broken by views.
import { api } from '../api.js';
import { h, replace, plural } from '../dom.js';

export const WINDOW_HOURS = 24;
const LIMIT = 10;

function item(v, rank) {
  const id = Number(v.id ?? v.video_id);
  const picture = v.thumbnail_url
    ? h('img', { src: v.thumbnail_url, alt: '', width: '320', height: '180', loading: 'lazy', decoding: 'async' })
    : h('span', { class: 'thumb-empty' }, 'No preview');
  return h('li', { class: 'trend', dataset: { videoId: id } },
    h('a', { class: 'trend-link', href: `/app/videos/${id}` },
      h('span', { class: 'trend-thumb' }, picture, h('span', { class: 'trend-rank', 'aria-hidden': 'true' }, String(rank))),
      h('span', { class: 'trend-title' }, v.title)),
    h('p', { class: 'meta small' }, v.owner_name, v.owner_city ? ` · ${v.owner_city}` : ''),
    h('p', { class: 'small trend-numbers' },
      h('strong', {}, `+${plural(Number(v.votes_in_window ?? 0), 'vote', 'votes')}`), ` in ${WINDOW_HOURS} h · `,
      plural(Number(v.views ?? 0), 'view', 'views')));
}

/**
 * The strip, filled in the background. `onVideos(list)` gets the videos (the video
 * page can open them without a search). Stays hidden when nothing trends or the
 * request fails: the gallery below is what matters.
 */
export function trendingStrip(onVideos = () => {}) {
  const list = h('ol', { class: 'trending-list', 'aria-labelledby': 'trending-title' });
  const section = h('section', { class: 'trending', id: 'trending', hidden: true, 'aria-labelledby': 'trending-title' },
    h('h2', { id: 'trending-title' }, 'Trending', h('span', { class: 'muted small' }, ` · most votes in the last ${WINDOW_HOURS} hours`)),
    list);
  api('GET', '/api/public/trending', { query: { window_hours: WINDOW_HOURS, limit: LIMIT } })
    .then((videos) => {
      if (!Array.isArray(videos) || !videos.length) return;
      onVideos(videos);
      replace(list, videos.map((v, i) => item(v, i + 1)));
      section.hidden = false;
    })
    .catch(() => { /* no strip */ });
  return section;
}
