// Rankings: players by total votes, with a city filter and pagination.
import { api } from '../api.js';
import { h, replace, num } from '../dom.js';
import { knownCities, cityDatalist, pager, pageParam } from './gallery.js';

const LIMIT = 10;

export async function render(main, ctx) {
  ctx.setTitle('Rankings');
  const city = ctx.query.get('city') || '';
  const page = pageParam(ctx.query);

  const form = h('form', { class: 'filters', 'aria-label': 'Filter rankings' },
    h('div', { class: 'field' },
      h('label', { for: 'r-city' }, 'City'),
      h('input', { id: 'r-city', name: 'city', type: 'text', value: city, maxlength: '100', list: 'r-cities', placeholder: 'All cities' })),
    h('div', { class: 'field field-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Filter'),
      city ? h('a', { class: 'btn', href: '/app/rankings' }, 'All cities') : null));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = String(new FormData(form).get('city') || '').trim();
    ctx.navigate(v ? `/rankings?city=${encodeURIComponent(v)}` : '/rankings');
  });

  const results = h('div', { class: 'results', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading rankings…'));
  replace(main,
    h('div', { class: 'page-head' },
      h('h1', {}, city ? `Rankings · ${city}` : 'Rankings'),
      h('p', { class: 'lead' }, 'Players ordered by the votes their published videos received.')),
    form, results);
  knownCities().then((cities) => { if (ctx.isCurrent()) form.append(cityDatalist('r-cities', cities)); });

  let rows;
  try {
    rows = await api('GET', '/api/public/rankings', { query: { page, limit: LIMIT, city } });
  } catch (err) {
    replace(results, h('p', { class: 'error-text' }, err.message));
    return;
  }
  if (!rows.length) {
    replace(results, h('p', { class: 'empty' }, page > 1 ? 'No more players.' : 'Nobody is ranked here yet.'),
      page > 1 ? pager('/app/rankings', city ? { city } : {}, page, false, 'Ranking pages') : null);
    return;
  }
  replace(results,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'rankings', id: 'rankings' },
        h('caption', { class: 'sr-only' }, 'Rankings'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col', class: 'num' }, '#'),
          h('th', { scope: 'col' }, 'Player'),
          h('th', { scope: 'col' }, 'City'),
          h('th', { scope: 'col', class: 'num' }, 'Votes'))),
        h('tbody', {}, rows.map((r) => h('tr', { class: r.position <= 3 ? `podium podium-${r.position}` : null },
          h('td', { class: 'num pos' }, num(r.position)),
          h('th', { scope: 'row', class: 'player' }, r.username),
          h('td', { class: 'city' }, h('a', { href: `/app/rankings?city=${encodeURIComponent(r.city)}` }, r.city)),
          h('td', { class: 'num votes' }, num(r.votes))))))),
    pager('/app/rankings', city ? { city } : {}, page, rows.length === LIMIT, 'Ranking pages'));
}
