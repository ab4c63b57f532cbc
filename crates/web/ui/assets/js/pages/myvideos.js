// My videos: upload with progress, live processing status, preview, publish, delete.
import { api, uploadVideo, ApiError } from '../api.js';
import { h, replace, plural, when } from '../dom.js';

const POLL_MS = 1500;
const PENDING = new Set(['uploaded', 'processing']);

const STATUS_LABEL = {
  uploaded: 'Queued',
  processing: 'Processing',
  processed: 'Ready to publish',
  public: 'Published',
  failed: 'Failed',
};

function mb(bytes) {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** A modal yes/no question; resolves true when confirmed. */
function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'dialog', id: 'confirm-dialog', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'confirm-title' }, title),
        h('p', { id: 'confirm-text' }, text),
        h('div', { class: 'dialog-actions' },
          h('button', { type: 'submit', value: 'cancel', class: 'btn', autofocus: true }, 'Cancel'),
          h('button', { type: 'submit', value: 'confirm', class: 'btn btn-danger', id: 'confirm-yes' }, confirmLabel))));
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export async function render(main, ctx) {
  ctx.setTitle('My videos');
  const videos = new Map(); // id -> latest detail or summary
  let timer = null;
  let stopped = false;
  let activeUpload = null;

  // ---------- upload form ----------
  const progress = h('progress', { id: 'upload-progress', max: '100', value: '0', 'aria-labelledby': 'upload-progress-label' });
  const progressText = h('span', { id: 'upload-progress-label' }, '');
  const progressBox = h('div', { class: 'upload-progress', hidden: true }, progress, progressText,
    h('button', { type: 'button', class: 'btn btn-small', onclick: () => activeUpload?.abort() }, 'Cancel upload'));
  const form = h('form', { class: 'card form upload', id: 'upload-form', novalidate: true },
    h('h2', {}, 'Upload a clip'),
    h('p', { class: 'muted' }, 'MP4, 20 to 60 seconds, at least 1080p, up to 100 MB. We trim it to 30 seconds, resize it to 720p, add the competition watermark and remove the audio.'),
    h('div', { class: 'field' },
      h('label', { for: 'in-title' }, 'Title'),
      h('input', { id: 'in-title', name: 'title', type: 'text', required: true, maxlength: '255', 'aria-describedby': 'in-title-error' }),
      h('p', { class: 'field-error', id: 'in-title-error' })),
    h('div', { class: 'field' },
      h('label', { for: 'in-video_file' }, 'Video file'),
      h('input', { id: 'in-video_file', name: 'video_file', type: 'file', accept: 'video/mp4,.mp4', required: true, 'aria-describedby': 'in-video_file-error' }),
      h('p', { class: 'field-error', id: 'in-video_file-error' })),
    progressBox,
    h('p', { class: 'form-error', role: 'alert', tabindex: '-1' }),
    h('button', { type: 'submit', class: 'btn btn-primary', id: 'upload-button' }, 'Upload'));

  const setFieldError = (name, message) => {
    const slot = form.querySelector(`#in-${name}-error`);
    if (!slot) return false;
    slot.textContent = message;
    form.querySelector(`[name="${name}"]`).setAttribute('aria-invalid', 'true');
    return true;
  };
  const clearFormErrors = () => {
    for (const el of form.querySelectorAll('.field-error, .form-error')) el.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormErrors();
    const title = form.elements.title.value.trim();
    const file = form.elements.video_file.files[0];
    let invalid = false;
    if (!title) invalid = setFieldError('title', 'Give your clip a title.') || true;
    if (!file) invalid = setFieldError('video_file', 'Choose an MP4 file.') || true;
    if (invalid) {
      form.querySelector('[aria-invalid="true"]')?.focus();
      return;
    }
    const button = form.querySelector('#upload-button');
    button.disabled = true;
    button.textContent = 'Uploading…';
    progressBox.hidden = false;
    progress.value = 0;
    progressText.textContent = `0% of ${mb(file.size)}`;
    activeUpload = uploadVideo(title, file, (sent, total) => {
      const pct = total ? Math.min(100, Math.round((sent / total) * 100)) : 0;
      progress.value = pct;
      progressText.textContent = pct >= 100
        ? 'Upload complete, checking the video…'
        : `${pct}% · ${mb(sent)} of ${mb(total)}`;
    });
    try {
      const created = await activeUpload.promise;
      form.reset();
      ctx.notify('Upload received. Processing starts shortly; this page updates by itself.');
      const detail = await api('GET', `/api/videos/${created.video_id}`, { auth: true }).catch(() => ({
        video_id: created.video_id, title, status: 'uploaded', uploaded_at: new Date().toISOString(),
      }));
      videos.set(Number(detail.video_id), detail);
      renderList();
      schedule();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.errors.length) {
        const rest = err.errors.filter((fe) => !setFieldError(fe.field, fe.message)).map((fe) => fe.message);
        form.querySelector('.form-error').textContent = rest.join(' ');
      } else if (err instanceof ApiError && err.status === 400) {
        setFieldError('video_file', err.message);
      } else {
        form.querySelector('.form-error').textContent = err.message;
      }
      (form.querySelector('[aria-invalid="true"]') || form.querySelector('.form-error')).focus();
    } finally {
      activeUpload = null;
      progressBox.hidden = true;
      button.disabled = false;
      button.textContent = 'Upload';
    }
  });

  // ---------- list ----------
  const list = h('ul', { class: 'my-list', id: 'my-videos', 'aria-live': 'polite' });
  const listBox = h('section', { class: 'my-videos', 'aria-labelledby': 'my-videos-title' },
    h('h2', { id: 'my-videos-title' }, 'Your videos'), list);

  function statusBadge(v) {
    const pct = v.status === 'processing' && typeof v.progress === 'number' ? ` ${Math.round(v.progress)}%` : '';
    return h('span', { class: `badge badge-${v.status}`, dataset: { status: v.status } }, `${STATUS_LABEL[v.status] || v.status}${pct}`);
  }

  function item(v) {
    const id = Number(v.video_id);
    const children = [
      h('div', { class: 'item-head' },
        h('h3', {}, v.title),
        statusBadge(v)),
      h('p', { class: 'muted' }, `Uploaded ${when(v.uploaded_at)}`, v.processed_at ? ` · processed ${when(v.processed_at)}` : ''),
    ];
    if (v.status === 'uploaded') {
      children.push(h('p', { class: 'status-text' }, 'Waiting for a free worker…'));
    } else if (v.status === 'processing') {
      const pct = typeof v.progress === 'number' ? Math.round(v.progress) : null;
      children.push(
        h('progress', { class: 'processing', max: '100', value: pct === null ? null : String(pct), 'aria-label': `Processing ${v.title}` }),
        h('p', { class: 'status-text' }, pct === null ? 'Processing…' : `Processing… ${pct}%`));
    } else if (v.status === 'failed') {
      children.push(h('p', { class: 'error-text' }, `Processing failed: ${v.error || 'unknown error'}`));
    }
    if ((v.status === 'processed' || v.status === 'public') && v.processed_url) {
      children.push(h('video', { class: 'preview', controls: true, preload: 'metadata', playsinline: true, src: v.processed_url, 'aria-label': `Preview of ${v.title}` }));
    }
    if (v.status === 'public') {
      children.push(h('p', {}, plural(v.votes ?? 0, 'vote', 'votes'), ' · ', h('a', { href: `/app/videos/${id}` }, 'Public page')));
    }
    const actions = h('div', { class: 'actions' });
    if (v.status === 'processed') {
      actions.append(h('button', { type: 'button', class: 'btn btn-primary publish', onclick: () => publish(id) }, 'Publish'));
    }
    const isPublic = v.status === 'public';
    actions.append(h('button', {
      type: 'button', class: 'btn btn-danger delete', disabled: isPublic,
      'aria-describedby': isPublic ? `why-${id}` : null,
      onclick: () => remove(id),
    }, 'Delete'));
    if (isPublic) actions.append(h('span', { class: 'muted why', id: `why-${id}` }, 'Published videos cannot be deleted.'));
    children.push(actions, h('p', { class: 'item-error error-text', role: 'alert' }));
    return h('li', { class: 'card my-item', id: `video-${id}`, dataset: { videoId: id, status: v.status } }, children);
  }

  function renderList() {
    const rows = [...videos.values()].sort((a, b) => String(b.uploaded_at).localeCompare(String(a.uploaded_at)) || b.video_id - a.video_id);
    if (!rows.length) {
      replace(list, h('li', { class: 'empty' }, 'You have not uploaded any video yet.'));
      return;
    }
    // Keep items whose content did not change, so focus and playing previews survive.
    const existing = new Map([...list.querySelectorAll('li.my-item')].map((li) => [Number(li.dataset.videoId), li]));
    const next = rows.map((v) => {
      const key = JSON.stringify([v.status, v.progress, v.error, v.votes, v.title, v.processed_url ? 1 : 0]);
      const old = existing.get(Number(v.video_id));
      if (old && old.dataset.key === key) return old;
      const fresh = item(v);
      fresh.dataset.key = key;
      return fresh;
    });
    replace(list, next);
  }

  function itemError(id, message) {
    const slot = document.querySelector(`#video-${id} .item-error`);
    if (slot) slot.textContent = message;
    else ctx.showError(message);
  }

  async function publish(id) {
    const btn = document.querySelector(`#video-${id} .publish`);
    if (btn) { btn.disabled = true; btn.textContent = 'Publishing…'; }
    try {
      await api('POST', `/api/videos/${id}/publish`, { auth: true });
      const detail = await api('GET', `/api/videos/${id}`, { auth: true });
      videos.set(id, detail);
      renderList();
      ctx.notify(`“${detail.title}” is now public in the gallery.`);
    } catch (err) {
      if (btn) { btn.disabled = false; btn.textContent = 'Publish'; }
      itemError(id, err.message);
    }
  }

  async function remove(id) {
    const v = videos.get(id);
    const ok = await confirmDialog('Delete this video?', `“${v?.title ?? 'This video'}” and its files will be deleted. This cannot be undone.`, 'Delete video');
    if (!ok) return;
    try {
      await api('DELETE', `/api/videos/${id}`, { auth: true });
      videos.delete(id);
      renderList();
      ctx.notify(`“${v?.title ?? 'The video'}” was deleted.`);
      list.closest('section')?.querySelector('h2')?.focus?.();
    } catch (err) {
      itemError(id, err.message);
    }
  }

  // ---------- polling of videos still being processed ----------
  async function poll() {
    timer = null;
    const pending = [...videos.values()].filter((v) => PENDING.has(v.status)).map((v) => Number(v.video_id));
    await Promise.all(pending.map(async (id) => {
      try {
        const detail = await api('GET', `/api/videos/${id}`, { auth: true });
        if (videos.has(id)) videos.set(id, detail);
      } catch (err) {
        if (err.status === 404) videos.delete(id);
        else if (err.status === 401) stopped = true;
      }
    }));
    if (stopped) return;
    renderList();
    schedule();
  }

  function schedule() {
    if (stopped || timer) return;
    if ([...videos.values()].some((v) => PENDING.has(v.status))) timer = setTimeout(poll, POLL_MS);
  }

  replace(main,
    h('div', { class: 'page-head' },
      h('h1', {}, 'My videos'),
      h('p', { class: 'lead' }, 'Upload clips, follow their processing, and publish the ones you are proud of.')),
    h('div', { class: 'my-layout' }, form, listBox));
  replace(list, h('li', { class: 'muted' }, 'Loading your videos…'));

  try {
    const summaries = await api('GET', '/api/videos', { auth: true });
    const details = await Promise.all(summaries.map((s) => (
      s.status === 'processed' && s.processed_url
        ? Promise.resolve(s)
        : api('GET', `/api/videos/${s.video_id}`, { auth: true }).catch(() => s))));
    for (const d of details) videos.set(Number(d.video_id), d);
    renderList();
    schedule();
  } catch (err) {
    if (err.status !== 401) replace(list, h('li', { class: 'error-text' }, err.message));
  }

  return () => {
    stopped = true;
    clearTimeout(timer);
    activeUpload?.abort();
  };
}
