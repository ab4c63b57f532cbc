// The organizer's dashboard: counters and charts of the last 48 hours
// (GET /api/admin/stats), refreshed every 10 s while the page is visible.
import { api } from '../../api.js';
import { h, replace, num } from '../../dom.js';
import { COLORS, baseOptions, chartLib, hourlySeries } from '../../charts.js';
import { head, hourLabel } from './common.js';

/** How often the numbers are read again while the page is visible. */
export const POLL_MS = 10_000;

const STATUSES = [
  ['uploaded', 'Queued'],
  ['processing', 'Processing'],
  ['processed', 'Ready to publish'],
  ['public', 'Published'],
  ['failed', 'Failed'],
  ['hidden', 'Hidden'],
];

function counter(key, label, value) {
  return h('div', { class: 'stat', dataset: { stat: key } },
    h('dt', {}, label),
    h('dd', {}, num(value)));
}

function counters(s) {
  const videos = s.videos || {};
  const total = STATUSES.reduce((sum, [k]) => sum + Number(videos[k] || 0), 0);
  return [
    h('dl', { class: 'stats', 'aria-label': 'Totals' },
      counter('players', 'Players', s.players),
      counter('videos', 'Videos', total),
      counter('votes', 'Votes', s.votes),
      counter('views', 'Views', s.views)),
    h('dl', { class: 'stats stats-small', 'aria-label': 'Videos by status' },
      STATUSES.map(([k, label]) => counter(`videos-${k}`, label, videos[k] || 0))),
  ];
}

/** A chart's box: a title, the canvas (with a text fallback) and a place for its summary. */
function chartBox(id, title) {
  const summary = h('p', { class: 'sr-only', id: `${id}-summary` });
  const canvas = h('canvas', { id, role: 'img', 'aria-label': title, 'aria-describedby': `${id}-summary` });
  return { canvas, summary, el: h('section', { class: 'card chart-card', 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title` }, title),
    h('div', { class: 'chart-area' }, canvas),
    summary) };
}

/** The charts' data from a stats answer. */
function chartData(s) {
  const uploads = hourlySeries(s.uploads_per_hour);
  const votes = hourlySeries(s.votes_per_hour);
  const cities = (s.top_cities || []).slice(0, 10);
  return {
    uploads: { labels: uploads.map((p) => hourLabel(p.hour)), data: uploads.map((p) => p.count) },
    votes: { labels: votes.map((p) => hourLabel(p.hour)), data: votes.map((p) => p.count) },
    cities: { labels: cities.map((c) => c.city), players: cities.map((c) => Number(c.players || 0)), votes: cities.map((c) => Number(c.votes || 0)) },
  };
}

function sum(values) {
  return values.reduce((a, b) => a + b, 0);
}

export async function render(main, ctx) {
  ctx.setTitle('Organizer dashboard');
  const totals = h('div', { class: 'stats-wrap', id: 'stats' }, h('p', { class: 'muted' }, 'Loading the numbers…'));
  const updated = h('p', { class: 'muted small', id: 'stats-updated' });
  const uploadsBox = chartBox('chart-uploads', 'Uploads per hour (48 h)');
  const votesBox = chartBox('chart-votes', 'Votes per hour (48 h)');
  const citiesBox = chartBox('chart-cities', 'Top cities');
  replace(main,
    head('/app/admin', 'Organizer dashboard', 'The competition at a glance. The numbers refresh every 10 seconds while this page is open.'),
    totals,
    h('div', { class: 'charts' }, uploadsBox.el, votesBox.el, citiesBox.el),
    updated);

  let stopped = false;
  let timer = null;
  let charts = null;
  let Chart;
  try {
    Chart = await chartLib();
  } catch (err) {
    replace(totals, h('p', { class: 'error-text' }, err.message));
    return undefined;
  }

  function draw(s) {
    const d = chartData(s);
    uploadsBox.summary.textContent = `${num(sum(d.uploads.data))} uploads in the last 48 hours.`;
    votesBox.summary.textContent = `${num(sum(d.votes.data))} votes in the last 48 hours.`;
    citiesBox.summary.textContent = d.cities.labels.length
      ? d.cities.labels.map((c, i) => `${c}: ${num(d.cities.players[i])} players, ${num(d.cities.votes[i])} votes`).join('; ')
      : 'No city yet.';
    if (!charts) {
      charts = {
        uploads: new Chart(uploadsBox.canvas, {
          type: 'bar',
          data: { labels: d.uploads.labels, datasets: [{ label: 'Uploads', data: d.uploads.data, backgroundColor: COLORS.primary }] },
          options: baseOptions(),
        }),
        votes: new Chart(votesBox.canvas, {
          type: 'line',
          data: { labels: d.votes.labels, datasets: [{ label: 'Votes', data: d.votes.data, borderColor: COLORS.ok, backgroundColor: COLORS.okFill, fill: true, pointRadius: 0, cubicInterpolationMode: 'monotone' }] },
          options: baseOptions(),
        }),
        cities: new Chart(citiesBox.canvas, {
          type: 'bar',
          data: {
            labels: d.cities.labels,
            datasets: [
              { label: 'Players', data: d.cities.players, backgroundColor: COLORS.primary },
              { label: 'Votes', data: d.cities.votes, backgroundColor: COLORS.okFill },
            ],
          },
          options: baseOptions({ horizontal: true, legend: true }),
        }),
      };
      return;
    }
    charts.uploads.data.labels = d.uploads.labels;
    charts.uploads.data.datasets[0].data = d.uploads.data;
    charts.votes.data.labels = d.votes.labels;
    charts.votes.data.datasets[0].data = d.votes.data;
    charts.cities.data.labels = d.cities.labels;
    charts.cities.data.datasets[0].data = d.cities.players;
    charts.cities.data.datasets[1].data = d.cities.votes;
    for (const c of Object.values(charts)) c.update('none');
  }

  let busy = false;
  async function refresh() {
    clearTimeout(timer);
    timer = null;
    if (busy) return;
    busy = true;
    try {
      const s = await api('GET', '/api/admin/stats', { auth: true });
      if (stopped) return;
      replace(totals, counters(s));
      draw(s);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
      totals.dataset.loaded = 'true';
    } catch (err) {
      if (stopped) return;
      updated.textContent = `Could not refresh the numbers: ${err.message}`;
      if (err.status === 401 || err.status === 403) return; // signed out, or no longer an organizer
    } finally {
      busy = false;
    }
    if (!stopped && document.visibilityState === 'visible') timer = setTimeout(refresh, POLL_MS);
  }

  // A hidden tab stops polling; coming back refreshes at once.
  const onVisibility = () => {
    if (stopped) return;
    if (document.visibilityState === 'visible') {
      if (!timer) refresh();
    } else {
      clearTimeout(timer);
      timer = null;
    }
  };
  document.addEventListener('visibilitychange', onVisibility);
  await refresh();

  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
    for (const c of Object.values(charts || {})) c.destroy();
  };
}
