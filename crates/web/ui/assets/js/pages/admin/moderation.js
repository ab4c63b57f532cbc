// The moderation queue: every video, newest first (GET /api/admin/videos), with a status
// filter and pages; hide/restore a video and suspend/unsuspend its owner, with a reason.
import { api } from '../../api.js';
import { h, replace, num, when } from '../../dom.js';
import { pager, pageParam } from '../gallery.js';
import { head, reasonDialog } from './common.js';

const LIMIT = 20;

const STATUS_LABEL = {
  uploaded: 'Queued',
  processing: 'Processing',
  processed: 'Ready to publish',
  public: 'Published',
  failed: 'Failed',
  hidden: 'Hidden',
};

/** A row of the queue (`AdminVideo`) in the page's terms. */
function normalize(v) {
  return {
    id: Number(v.id),
    title: v.title,
    status: v.status,
    uploadedAt: v.uploaded_at,
    thumbnail: v.thumbnail_url || null,
    votes: Number(v.votes ?? 0),
    views: Number(v.views ?? 0),
    hiddenReason: v.hidden_reason ?? null,
    owner: {
      id: Number(v.owner.id),
      name: v.owner.username,
      email: v.owner.email,
      city: v.owner.city,
      suspended: Boolean(v.owner.suspended),
    },
  };
}

function thumb(v) {
  if (!v.thumbnail) return h('span', { class: 'mod-thumb thumb-empty' }, 'No poster');
  return h('img', { class: 'mod-thumb', src: v.thumbnail, alt: '', width: '128', height: '72', loading: 'lazy', decoding: 'async' });
}

export async function render(main, ctx) {
  ctx.setTitle('Moderation');
  const status = STATUS_LABEL[ctx.query.get('status')] ? ctx.query.get('status') : '';
  const page = pageParam(ctx.query);

  const select = h('select', { id: 'm-status', name: 'status' },
    h('option', { value: '' }, 'All videos'),
    Object.entries(STATUS_LABEL).map(([value, label]) => h('option', { value, selected: value === status }, label)));
  const form = h('form', { class: 'filters', 'aria-label': 'Filter the queue' },
    h('div', { class: 'field field-select' }, h('label', { for: 'm-status' }, 'Status'), select),
    h('div', { class: 'field field-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Show')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.navigate(select.value ? `/admin/moderation?status=${encodeURIComponent(select.value)}` : '/admin/moderation');
  });
  const results = h('div', { class: 'results' }, h('p', { class: 'muted' }, 'Loading the queue…'));
  replace(main,
    head('/app/admin/moderation', 'Moderation', 'Every video, newest first. Hiding takes a video out of the gallery and the rankings; suspending an account also hides its videos and stops counting its votes.'),
    form, results);

  let rows = [];
  const rowError = (id, message) => {
    const slot = results.querySelector(`#mod-${id} .item-error`);
    if (slot) slot.textContent = message;
    else ctx.showError(message);
  };

  /** Runs an action of a row's button: busy state, the API call, then the queue again. */
  async function act(button, v, path, body, done) {
    button.disabled = true;
    rowError(v.id, '');
    try {
      await api('POST', path, { auth: true, body });
      ctx.notify(done);
      await load();
      // The row was drawn again: keep the keyboard focus on it.
      (results.querySelector(`#mod-${v.id} .actions button`) || main.querySelector('h1'))?.focus();
    } catch (err) {
      button.disabled = false;
      rowError(v.id, err.message);
    }
  }

  async function hide(button, v) {
    const reason = await reasonDialog({
      title: 'Hide this video?',
      text: `“${v.title}” leaves the gallery and its votes stop counting in the rankings. Its owner sees the reason.`,
      confirmLabel: 'Hide video',
    });
    if (reason === null) return;
    await act(button, v, `/api/admin/videos/${v.id}/hide`, { reason }, `“${v.title}” is hidden.`);
  }

  async function restore(button, v) {
    const ok = await reasonDialog({
      title: 'Restore this video?',
      text: `“${v.title}” goes back to where it was before it was hidden, and its votes count again.`,
      confirmLabel: 'Restore video', reason: false, danger: false,
    });
    if (ok === null) return;
    await act(button, v, `/api/admin/videos/${v.id}/restore`, undefined, `“${v.title}” is restored.`);
  }

  async function suspend(button, v) {
    const reason = await reasonDialog({
      title: `Suspend ${v.owner.name}?`,
      text: 'The account can no longer sign in, its public videos are hidden and the votes it cast stop counting.',
      confirmLabel: 'Suspend account',
    });
    if (reason === null) return;
    await act(button, v, `/api/admin/players/${v.owner.id}/suspend`, { reason }, `${v.owner.name} is suspended.`);
  }

  async function unsuspend(button, v) {
    const ok = await reasonDialog({
      title: `Lift the suspension of ${v.owner.name}?`,
      text: 'The account can sign in again; the videos hidden by the suspension come back (not those hidden one by one) and its votes count again.',
      confirmLabel: 'Unsuspend account', reason: false, danger: false,
    });
    if (ok === null) return;
    await act(button, v, `/api/admin/players/${v.owner.id}/unsuspend`, undefined, `${v.owner.name} can sign in again.`);
  }

  function row(v) {
    const actions = h('div', { class: 'actions' });
    const button = (label, cls, fn) => {
      const b = h('button', { type: 'button', class: `btn btn-small ${cls}`, 'aria-label': `${label}: ${v.title}` }, label);
      b.addEventListener('click', () => fn(b, v));
      return b;
    };
    // A suspended owner's videos stay hidden until the suspension is lifted (the API
    // refuses a restore: `owner-suspended`).
    if (v.status === 'hidden' && !v.owner.suspended) actions.append(button('Restore', 'btn-primary restore', restore));
    else if (v.status === 'public' || v.status === 'processed') actions.append(button('Hide', 'btn-danger hide', hide));
    actions.append(v.owner.suspended
      ? button('Unsuspend owner', 'unsuspend', unsuspend)
      : button('Suspend owner', 'btn-danger suspend', suspend));
    return h('tr', { id: `mod-${v.id}`, dataset: { videoId: v.id, status: v.status } },
      h('td', { class: 'mod-video' },
        thumb(v),
        h('div', {},
          v.status === 'public' ? h('a', { href: `/app/videos/${v.id}`, class: 'mod-title' }, v.title) : h('span', { class: 'mod-title' }, v.title),
          h('span', { class: 'muted small' }, `#${v.id} · ${when(v.uploadedAt)}`),
          v.hiddenReason ? h('span', { class: 'small hidden-reason' }, `Hidden: ${v.hiddenReason}`) : null)),
      h('td', {},
        h('span', {}, v.owner.name),
        h('span', { class: 'muted small' }, [v.owner.email, v.owner.city].filter(Boolean).join(' · ')),
        v.owner.suspended ? h('span', { class: 'badge badge-failed' }, 'Suspended') : null),
      h('td', {}, h('span', { class: `badge badge-${v.status}` }, STATUS_LABEL[v.status] || v.status)),
      h('td', { class: 'num' }, num(v.votes)),
      h('td', { class: 'num' }, num(v.views)),
      h('td', {}, actions, h('p', { class: 'item-error error-text', role: 'alert' })));
  }

  async function load() {
    try {
      const answer = await api('GET', '/api/admin/videos', { auth: true, query: { status, page, limit: LIMIT } });
      rows = answer.map(normalize);
    } catch (err) {
      replace(results, h('p', { class: 'error-text' }, err.message));
      return;
    }
    if (!ctx.isCurrent()) return;
    const query = status ? { status } : {};
    if (!rows.length) {
      replace(results, h('p', { class: 'empty' }, page > 1 ? 'No more videos.' : 'No video here.'),
        page > 1 ? pager('/app/admin/moderation', query, page, false, 'Queue pages') : null);
      return;
    }
    replace(results,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'moderation', id: 'moderation' },
          h('caption', { class: 'sr-only' }, 'Moderation queue'),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Video'),
            h('th', { scope: 'col' }, 'Owner'),
            h('th', { scope: 'col' }, 'Status'),
            h('th', { scope: 'col', class: 'num' }, 'Votes'),
            h('th', { scope: 'col', class: 'num' }, 'Views'),
            h('th', { scope: 'col' }, 'Actions'))),
          h('tbody', {}, rows.map(row)))),
      pager('/app/admin/moderation', query, page, rows.length === LIMIT, 'Queue pages'));
  }

  await load();
}
