// The competition: its two closing dates (GET/PUT /api/admin/competition), the final
// standings as CSV (GET /api/admin/rankings.csv) and the organizers' audit log.
import { api, download } from '../../api.js';
import { h, replace, when } from '../../dom.js';
import { knownCities, cityDatalist, pager, pageParam } from '../gallery.js';
import { forget as forgetCompetition } from '../../competition.js';
import { head } from './common.js';

const AUDIT_LIMIT = 20;

const ACTION_LABEL = {
  'hide-video': 'Hid a video',
  'restore-video': 'Restored a video',
  'suspend-player': 'Suspended a player',
  'unsuspend-player': 'Unsuspended a player',
  'set-competition': 'Changed the dates',
};

/** RFC 3339 → the value of a datetime-local input (local time, minutes). */
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local value (local time) → RFC 3339 in UTC, or null when empty. */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function stateText(iso, what) {
  if (!iso) return `${what} are open, with no closing date.`;
  return new Date(iso) <= new Date() ? `${what} closed on ${when(iso)}.` : `${what} close on ${when(iso)}.`;
}

function dateField(name, label, iso, what) {
  const id = `c-${name}`;
  const input = h('input', { id, name, type: 'datetime-local', value: toLocalInput(iso), 'aria-describedby': `${id}-state` });
  const clear = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Clear: ${label}` }, 'Clear');
  clear.addEventListener('click', () => { input.value = ''; input.focus(); });
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('div', { class: 'input-row' }, input, clear),
    h('p', { class: 'hint', id: `${id}-state`, dataset: { state: name } }, stateText(iso, what)));
}

function datesForm(ctx, c) {
  const form = h('form', { class: 'card form', id: 'competition-form', novalidate: true },
    h('h2', {}, 'Rounds'),
    h('p', { class: 'muted' }, 'After these times, uploads (or votes) are refused and the rankings are final. Clear a date to keep that part open. Times are in your time zone.'),
    dateField('uploads_close_at', 'Uploads close at', c.uploads_close_at, 'Uploads'),
    dateField('voting_close_at', 'Voting closes at', c.voting_close_at, 'Votes'),
    h('p', { class: 'form-error', role: 'alert', tabindex: '-1' }),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save dates'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const error = form.querySelector('.form-error');
    error.textContent = '';
    const body = {
      uploads_close_at: fromLocalInput(form.elements.uploads_close_at.value),
      voting_close_at: fromLocalInput(form.elements.voting_close_at.value),
    };
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const saved = await api('PUT', '/api/admin/competition', { auth: true, body });
      forgetCompetition();
      const next = { ...body, ...(saved || {}) };
      form.querySelector('[data-state="uploads_close_at"]').textContent = stateText(next.uploads_close_at, 'Uploads');
      form.querySelector('[data-state="voting_close_at"]').textContent = stateText(next.voting_close_at, 'Votes');
      ctx.notify('The competition dates are saved.');
      ctx.refreshAudit?.();
    } catch (err) {
      error.textContent = err.errors?.length ? err.errors.map((fe) => fe.message).join(' ') : err.message;
      error.focus();
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function csvForm() {
  const form = h('form', { class: 'card form', id: 'csv-form' },
    h('h2', {}, 'Results'),
    h('p', { class: 'muted' }, 'The rankings as a CSV file (position, player, e-mail, city, votes, public videos), in the order of the public rankings.'),
    h('div', { class: 'field' },
      h('label', { for: 'csv-city' }, 'City (optional)'),
      h('input', { id: 'csv-city', name: 'city', type: 'text', maxlength: '100', list: 'csv-cities', placeholder: 'All cities' })),
    h('p', { class: 'form-error', role: 'alert', tabindex: '-1' }),
    h('button', { type: 'submit', class: 'btn btn-primary', id: 'csv-download' }, 'Download rankings.csv'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const error = form.querySelector('.form-error');
    error.textContent = '';
    const city = form.elements.city.value.trim();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const slug = city.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
      await download('/api/admin/rankings.csv', slug ? `rankings-${slug}.csv` : 'rankings.csv', { query: { city } });
    } catch (err) {
      error.textContent = err.message;
      error.focus();
    } finally {
      button.disabled = false;
    }
  });
  knownCities().then((cities) => form.append(cityDatalist('csv-cities', cities)));
  return form;
}

function target(e) {
  if (!e.target_type) return '';
  if (e.target_type === 'video') return h('a', { href: `/app/videos/${e.target_id}` }, `video #${e.target_id}`);
  if (e.target_type === 'player') return `player #${e.target_id}`;
  return e.target_type;
}

async function auditTable(box, page) {
  let entries;
  try {
    entries = await api('GET', '/api/admin/audit', { auth: true, query: { page, limit: AUDIT_LIMIT } });
  } catch (err) {
    replace(box, h('p', { class: 'error-text' }, err.message));
    return;
  }
  if (!entries.length) {
    replace(box, h('p', { class: 'empty' }, page > 1 ? 'No older entries.' : 'No organizer action yet.'));
    return;
  }
  replace(box,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'audit', id: 'audit' },
        h('caption', { class: 'sr-only' }, 'Audit log'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'When'),
          h('th', { scope: 'col' }, 'Organizer'),
          h('th', { scope: 'col' }, 'Action'),
          h('th', { scope: 'col' }, 'Target'),
          h('th', { scope: 'col' }, 'Reason'))),
        h('tbody', {}, entries.map((e) => h('tr', { dataset: { action: e.action } },
          h('td', {}, when(e.at)),
          h('td', {}, e.actor_email),
          h('td', {}, ACTION_LABEL[e.action] || e.action),
          h('td', {}, target(e)),
          h('td', { class: 'reason' }, e.reason || '')))))),
    pager('/app/admin/competition', {}, page, entries.length === AUDIT_LIMIT, 'Audit log pages'));
}

export async function render(main, ctx) {
  ctx.setTitle('Competition');
  const page = pageParam(ctx.query);
  let c;
  try {
    c = await api('GET', '/api/admin/competition', { auth: true });
  } catch (err) {
    replace(main, head('/app/admin/competition', 'Competition'), h('p', { class: 'error-text' }, err.message));
    return;
  }
  if (!ctx.isCurrent()) return;
  const audit = h('div', { class: 'results' }, h('p', { class: 'muted' }, 'Loading the audit log…'));
  const pageCtx = { ...ctx, refreshAudit: () => auditTable(audit, page) };
  replace(main,
    head('/app/admin/competition', 'Competition', 'Close uploads and voting, download the results, and see what the organizers did.'),
    h('div', { class: 'admin-columns' }, datesForm(pageCtx, c), csvForm()),
    h('section', { class: 'audit-log', 'aria-labelledby': 'audit-title' },
      h('h2', { id: 'audit-title' }, 'Audit log'),
      audit));
  await auditTable(audit, page);
}
