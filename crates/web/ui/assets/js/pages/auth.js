// Sign up and sign in, with the API's validation messages next to the fields.
import { api, ApiError } from '../api.js';
import { h, replace } from '../dom.js';
import * as session from '../session.js';
import { refreshRole } from '../account.js';

/** A labelled input with a slot for its error message. */
function field(name, label, attrs = {}, hint = null) {
  const id = `in-${name}`;
  const hintId = hint ? `${id}-hint` : null;
  return h('div', { class: 'field', dataset: { field: name } },
    h('label', { for: id }, label),
    h('input', { id, name, 'aria-describedby': [hintId, `${id}-error`].filter(Boolean).join(' '), ...attrs }),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: `${id}-error` }));
}

function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  form.querySelector('.form-error').textContent = '';
}

/** Puts `message` under the field `name`; false when the form has no such field. */
function fieldError(form, name, message) {
  const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!input) return false;
  const slot = form.querySelector(`#in-${CSS.escape(name)}-error`);
  slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
  input.setAttribute('aria-invalid', 'true');
  return true;
}

/** Shows an ApiError on the form: per field when possible, else above the button. */
function showErrors(form, err, fieldFor400 = {}) {
  const general = [];
  if (err instanceof ApiError && err.status === 422 && err.errors.length) {
    for (const e of err.errors) if (!fieldError(form, e.field, e.message)) general.push(e.message);
  } else if (err instanceof ApiError && err.status === 400 && fieldFor400[err.code]) {
    if (!fieldError(form, fieldFor400[err.code], err.message)) general.push(err.message);
  } else if (err instanceof ApiError && err.status === 400 && /password/i.test(err.message) && /match/i.test(err.message)) {
    fieldError(form, 'password2', err.message);
  } else if (err instanceof ApiError && err.status === 400 && /email/i.test(err.message)) {
    fieldError(form, 'email', err.message);
  } else {
    general.push(err?.message || 'Something went wrong.');
  }
  form.querySelector('.form-error').textContent = general.join(' ');
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
  else form.querySelector('.form-error').focus();
}

function nextPath(ctx, fallback) {
  const next = ctx.query.get('next') || '';
  // Only paths of this app: never an open redirect.
  return /^\/app(\/[^/]|\/?$|\?)/.test(next) && !next.startsWith('//') ? next : fallback;
}

async function login(email, password) {
  const tokenResponse = await api('POST', '/api/auth/login', { body: { email, password } });
  session.signIn(tokenResponse, email.trim());
  // Organizers get their pages in the navigation (and may be sent on to one by ?next=).
  await refreshRole();
}

function submitting(form, busy, label) {
  const button = form.querySelector('button[type="submit"]');
  button.disabled = busy;
  if (!button.dataset.label) button.dataset.label = button.textContent;
  button.textContent = busy ? label : button.dataset.label;
}

export const signin = {
  async render(main, ctx) {
    ctx.setTitle('Sign in');
    if (session.current()) {
      ctx.navigate(nextPath(ctx, '/app/my'), { replace: true });
      return;
    }
    const form = h('form', { class: 'card form', id: 'signin-form', novalidate: true },
      field('email', 'E-mail', { type: 'email', autocomplete: 'email', required: true }),
      field('password', 'Password', { type: 'password', autocomplete: 'current-password', required: true }),
      h('p', { class: 'form-error', role: 'alert', tabindex: '-1' }),
      h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Sign in'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(form);
      const data = new FormData(form);
      submitting(form, true, 'Signing in…');
      try {
        await login(String(data.get('email')), String(data.get('password')));
        ctx.notify('Welcome back! You are signed in.');
        ctx.navigate(nextPath(ctx, session.isOrganizer() ? '/app/admin' : '/app/my'));
      } catch (err) {
        showErrors(form, err);
        submitting(form, false);
      }
    });
    replace(main,
      h('div', { class: 'narrow' },
        h('h1', {}, 'Sign in'),
        form,
        h('p', { class: 'muted center' }, 'New here? ', h('a', { href: '/app/signup' }, 'Create an account'), '.')));
  },
};

export const signup = {
  async render(main, ctx) {
    ctx.setTitle('Sign up');
    const form = h('form', { class: 'card form', id: 'signup-form', novalidate: true },
      h('div', { class: 'row' },
        field('first_name', 'First name', { type: 'text', autocomplete: 'given-name', required: true, maxlength: '100' }),
        field('last_name', 'Last name', { type: 'text', autocomplete: 'family-name', required: true, maxlength: '100' })),
      field('email', 'E-mail', { type: 'email', autocomplete: 'email', required: true }),
      h('div', { class: 'row' },
        field('city', 'City', { type: 'text', autocomplete: 'address-level2', required: true, maxlength: '100' }),
        field('country', 'Country', { type: 'text', autocomplete: 'country-name', required: true, maxlength: '100' })),
      h('div', { class: 'row' },
        field('password1', 'Password', { type: 'password', autocomplete: 'new-password', required: true, minlength: '8' }, 'At least 8 characters.'),
        field('password2', 'Repeat password', { type: 'password', autocomplete: 'new-password', required: true })),
      h('p', { class: 'form-error', role: 'alert', tabindex: '-1' }),
      h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Create account'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(form);
      const data = Object.fromEntries(new FormData(form));
      submitting(form, true, 'Creating your account…');
      try {
        await api('POST', '/api/auth/signup', { body: data });
      } catch (err) {
        showErrors(form, err, { 'password-mismatch': 'password2', 'email-taken': 'email' });
        submitting(form, false);
        return;
      }
      try {
        await login(data.email, data.password1);
        ctx.notify(`Welcome, ${data.first_name}! Your account is ready: upload your first clip.`);
        ctx.navigate(nextPath(ctx, '/app/my'));
      } catch {
        ctx.notify('Your account is ready. Please sign in.');
        ctx.navigate('/app/signin');
      }
    });
    replace(main,
      h('div', { class: 'narrow' },
        h('h1', {}, 'Create your player account'),
        form,
        h('p', { class: 'muted center' }, 'Already registered? ', h('a', { href: '/app/signin' }, 'Sign in'), '.')));
  },
};
