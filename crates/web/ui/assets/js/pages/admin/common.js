// Pieces shared by the organizer's pages: their sub-navigation and the reason dialog.
import { h } from '../../dom.js';

const PAGES = [
  ['/app/admin', 'Dashboard'],
  ['/app/admin/moderation', 'Moderation'],
  ['/app/admin/competition', 'Competition'],
];

/** The page heading with the organizer's sub-navigation (the current page marked). */
export function head(current, title, lead) {
  return h('div', { class: 'page-head admin-head' },
    h('nav', { class: 'subnav', 'aria-label': 'Organizer pages' },
      h('ul', {}, PAGES.map(([href, label]) => h('li', {},
        h('a', { href, 'aria-current': href === current ? 'page' : null }, label))))),
    h('h1', {}, title),
    lead ? h('p', { class: 'lead' }, lead) : null);
}

/**
 * A modal question: resolves with the trimmed reason (with `reason`, required: 1 to 500
 * characters), '' when confirmed without one (`reason: false`), or null when cancelled.
 */
export function reasonDialog({ title, text, confirmLabel, reason: withReason = true, danger = true }) {
  const required = withReason;
  return new Promise((resolve) => {
    const input = h('textarea', {
      id: 'reason-input', name: 'reason', rows: '3', maxlength: '500', required: true,
      'aria-describedby': 'reason-text reason-error',
    });
    const error = h('p', { class: 'field-error', id: 'reason-error' });
    const form = h('form', { method: 'dialog', novalidate: true },
      h('h2', { id: 'reason-title' }, title),
      h('p', { id: 'reason-text' }, text),
      withReason ? h('div', { class: 'field' }, h('label', { for: 'reason-input' }, 'Reason'), input, error) : null,
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'submit', value: 'cancel', class: 'btn', formnovalidate: true }, 'Cancel'),
        h('button', { type: 'submit', value: 'confirm', class: danger ? 'btn btn-danger' : 'btn btn-primary', id: 'reason-confirm' }, confirmLabel)));
    const dialog = h('dialog', { class: 'dialog', id: 'reason-dialog', 'aria-labelledby': 'reason-title', 'aria-describedby': 'reason-text' }, form);
    form.addEventListener('submit', (e) => {
      if (e.submitter?.value !== 'confirm') return;
      if (required && !input.value.trim()) {
        e.preventDefault();
        error.textContent = 'Give a reason: the player and the audit log see it.';
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
    });
    dialog.addEventListener('close', () => {
      const reason = input.value.trim();
      resolve(dialog.returnValue === 'confirm' ? reason : null);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    if (withReason) input.focus();
    else form.querySelector('button[value="confirm"]').focus();
  });
}

/** `2026-12-02T18:00:00Z` → the local "Dec 2, 18:00"-style label of an hour. */
export function hourLabel(date) {
  return date.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
