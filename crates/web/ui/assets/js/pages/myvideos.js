// My videos: resumable upload, live processing status (SSE), preview, publish, delete.
import { api, ApiError } from '../api.js';
import { h, replace, plural, when } from '../dom.js';
import { follow } from '../live.js';
import { uploader } from '../upload.js';
import { competition, uploadsClosed } from '../competition.js';

const PENDING = new Set(['uploaded', 'processing']);

const STATUS_LABEL = {
  uploaded: 'Queued',
  processing: 'Processing',
  processed: 'Ready to publish',
  public: 'Published',
  failed: 'Failed',
  hidden: 'Hidden by the organizers',
};

const UPLOADS_CLOSED = 'Uploads are closed: the competition no longer takes new clips.';

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
  const following = new Map(); // id -> stop function of its live status stream
  let stopped = false;

  // ---------- upload form (resumable: see ../upload.js) ----------
  const progress = h('progress', { id: 'upload-progress', max: '100', value: '0', 'aria-labelledby': 'upload-progress-label' });
  const progressText = h('span', { id: 'upload-progress-label' }, '');
  const pauseButton = h('button', { type: 'button', class: 'btn btn-small', id: 'upload-pause', 'aria-pressed': 'false' }, 'Pause');
  const retryButton = h('button', { type: 'button', class: 'btn btn-small btn-primary', id: 'upload-retry', hidden: true }, 'Retry');
  const cancelButton = h('button', { type: 'button', class: 'btn btn-small', id: 'upload-cancel' }, 'Cancel upload');
  const progressBox = h('div', { class: 'upload-progress', hidden: true },
    progress, progressText, h('div', { class: 'upload-controls' }, pauseButton, retryButton, cancelButton));
  const restoreText = h('p', { id: 'upload-restore-text' });
  const resumeRestoredButton = h('button', { type: 'button', class: 'btn btn-primary', id: 'upload-resume-restored' }, 'Resume upload');
  const discardButton = h('button', { type: 'button', class: 'btn', id: 'upload-discard' }, 'Discard');
  const restoreBox = h('div', { class: 'upload-restore', id: 'upload-restore', role: 'region', 'aria-label': 'Interrupted upload', hidden: true },
    restoreText, h('div', { class: 'actions' }, resumeRestoredButton, discardButton));
  const fields = h('div', { class: 'upload-fields' },
    h('div', { class: 'field' },
      h('label', { for: 'in-title' }, 'Title'),
      h('input', { id: 'in-title', name: 'title', type: 'text', required: true, maxlength: '255', 'aria-describedby': 'in-title-error' }),
      h('p', { class: 'field-error', id: 'in-title-error' })),
    h('div', { class: 'field' },
      h('label', { for: 'in-video_file' }, 'Video file'),
      h('input', { id: 'in-video_file', name: 'video_file', type: 'file', accept: 'video/mp4,.mp4', required: true, 'aria-describedby': 'in-video_file-error' }),
      h('p', { class: 'field-error', id: 'in-video_file-error' })));
  const submitButton = h('button', { type: 'submit', class: 'btn btn-primary', id: 'upload-button' }, 'Upload');
  const form = h('form', { class: 'card form upload', id: 'upload-form', novalidate: true },
    h('h2', {}, 'Upload a clip'),
    h('p', { class: 'muted' }, 'MP4, 20 to 60 seconds, at least 1080p, up to 100 MB. We trim it to 30 seconds, resize it to 720p, add the competition watermark and remove the audio. The upload goes in parts: it survives a dropped connection, can be paused, and resumes after a reload.'),
    restoreBox, fields, progressBox,
    h('p', { class: 'form-error', role: 'alert', tabindex: '-1' }),
    submitButton);

  // The API's field names of the resumable route, mapped to this form's fields.
  const FIELD = { title: 'title', video_file: 'video_file', filename: 'video_file', size: 'video_file', content_type: 'video_file', file: 'video_file' };
  const setFieldError = (name, message) => {
    const field = FIELD[name];
    const slot = field && form.querySelector(`#in-${field}-error`);
    if (!slot) return false;
    slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
    form.querySelector(`[name="${field}"]`).setAttribute('aria-invalid', 'true');
    return true;
  };
  const clearFormErrors = () => {
    for (const el of form.querySelectorAll('.field-error, .form-error')) el.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  };
  /** Shows an API error where the classic form showed it: next to its field, else under the form. */
  const showUploadError = (err) => {
    if (err instanceof ApiError && err.status === 403 && err.code === 'uploads-closed') {
      closeUploads(UPLOADS_CLOSED);
    } else if (err instanceof ApiError && err.status === 422 && err.errors.length) {
      const rest = err.errors.filter((fe) => !setFieldError(fe.field, fe.message)).map((fe) => fe.message);
      form.querySelector('.form-error').textContent = rest.join(' ');
    } else if (err instanceof ApiError && err.status === 400) {
      setFieldError('video_file', err.message);
    } else {
      form.querySelector('.form-error').textContent = err?.message || 'The upload failed.';
    }
    (form.querySelector('[aria-invalid="true"]') || form.querySelector('.form-error')).focus();
  };

  const datesText = h('p', { class: 'dates-notice', id: 'upload-dates', hidden: true });
  fields.before(datesText);
  let closed = false;
  /** Uploads are closed: says so and keeps the form from starting one. */
  function closeUploads(message) {
    closed = true;
    datesText.textContent = message;
    datesText.hidden = false;
    datesText.classList.add('closed');
    submitButton.disabled = true;
  }

  let engine = null;
  let starting = false;
  const showState = () => {
    const st = engine ? engine.state() : { phase: 'idle' };
    const busy = st.phase !== 'idle' || starting;
    restoreBox.hidden = st.phase !== 'restored';
    fields.hidden = st.phase === 'restored';
    progressBox.hidden = !busy || st.phase === 'restored' || starting;
    submitButton.hidden = st.phase === 'restored';
    submitButton.disabled = busy || closed;
    submitButton.textContent = busy ? 'Uploading…' : 'Upload';
    form.dataset.phase = starting ? 'starting' : st.phase;
    const pct = st.total ? Math.min(100, Math.floor((st.sent / st.total) * 100)) : 0;
    if (st.phase === 'restored') {
      replace(restoreText, 'The upload of “', h('strong', {}, st.title || st.name), `” (${st.name}, ${mb(st.total)}) was interrupted at ${pct}%.`,
        st.ghost ? ' The file is no longer available in this browser: discard it and choose the file again.' : ' Resume it to send only what is missing.');
      resumeRestoredButton.hidden = st.ghost;
      return;
    }
    if (st.phase === 'idle') return;
    progress.value = pct;
    pauseButton.hidden = st.phase === 'failed' || st.phase === 'completing';
    pauseButton.textContent = st.phase === 'paused' ? 'Resume' : 'Pause';
    pauseButton.setAttribute('aria-pressed', String(st.phase === 'paused'));
    retryButton.hidden = st.phase !== 'failed';
    cancelButton.disabled = st.phase === 'completing';
    progressText.textContent = {
      uploading: `${pct}% · ${mb(st.sent)} of ${mb(st.total)}`,
      paused: `Paused at ${pct}% · ${mb(st.sent)} of ${mb(st.total)}`,
      failed: `Upload interrupted at ${pct}%. The parts already sent are kept: retry when the connection is back.`,
      completing: 'Upload complete, checking the video…',
    }[st.phase] || '';
  };

  const onEngine = async (kind, detail) => {
    if (kind === 'change') { showState(); return; }
    if (kind === 'failed') { showState(); form.querySelector('.form-error').textContent = ''; return; }
    if (kind === 'rejected') { showState(); showUploadError(detail); return; }
    if (kind === 'success') {
      form.reset();
      showState();
      ctx.notify('Upload received. Processing starts shortly; this page updates by itself.');
      if (stopped) return;
      const id = Number(detail.video_id);
      const full = await api('GET', `/api/videos/${id}`, { auth: true }).catch(() => ({
        video_id: id, title: detail.title, status: 'uploaded', uploaded_at: new Date().toISOString(),
      }));
      videos.set(id, full);
      renderList();
      followPending();
    }
  };

  pauseButton.addEventListener('click', () => engine?.pauseResume());
  retryButton.addEventListener('click', () => { form.querySelector('.form-error').textContent = ''; engine?.retry(); });
  resumeRestoredButton.addEventListener('click', () => engine?.resumeRestored());
  const cancel = async () => {
    try {
      await engine?.cancel();
      ctx.notify('Upload cancelled.');
    } catch (err) {
      form.querySelector('.form-error').textContent = err.message;
    }
    showState();
  };
  cancelButton.addEventListener('click', cancel);
  discardButton.addEventListener('click', cancel);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (closed) return;
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
    if (!engine) {
      form.querySelector('.form-error').textContent = 'The uploader could not be loaded. Reload the page and try again.';
      return;
    }
    starting = true;
    showState();
    try {
      await engine.start(title, file);
    } catch (err) {
      showUploadError(err);
    } finally {
      starting = false;
      showState();
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
    } else if (v.status === 'hidden') {
      children.push(h('p', { class: 'error-text hidden-reason' },
        'The organizers hid this video from the gallery and the rankings',
        v.hidden_reason ? `: ${v.hidden_reason}` : '.'));
    }
    if ((v.status === 'processed' || v.status === 'public') && v.processed_url) {
      children.push(h('video', { class: 'preview', controls: true, preload: 'metadata', playsinline: true, src: v.processed_url, poster: v.thumbnail_url || null, 'aria-label': `Preview of ${v.title}` }));
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
      const key = JSON.stringify([v.status, v.progress, v.error, v.votes, v.title, v.hidden_reason, v.processed_url ? 1 : 0, v.thumbnail_url ? 1 : 0]);
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

  // ---------- live status of videos still being processed ----------
  /** Applies an event or a fresh body to video `id`; fetches the full body once it is final. */
  function update(id, partial) {
    const v = videos.get(id);
    if (!v) return;
    const next = { ...v };
    for (const key of ['status', 'progress', 'error']) if (key in partial) next[key] = partial[key];
    if (partial.video_id !== undefined) Object.assign(next, partial);
    videos.set(id, next);
    renderList();
    if (!PENDING.has(next.status) && partial.video_id === undefined) {
      // The event says processed/failed: read the URLs (video, poster) of the final state.
      api('GET', `/api/videos/${id}`, { auth: true }).then((detail) => {
        if (!stopped && videos.has(id)) { videos.set(id, detail); renderList(); }
      }).catch(() => {});
    }
  }

  /** Opens a live status stream for each video still queued or processing. */
  function followPending() {
    if (stopped) return;
    for (const v of videos.values()) {
      const id = Number(v.video_id);
      if (!PENDING.has(v.status) || following.has(id)) continue;
      following.set(id, follow(id, {
        onUpdate: (partial) => { if (!stopped) update(id, partial); },
        onGone: () => { videos.delete(id); if (!stopped) renderList(); },
      }));
    }
  }

  replace(main,
    h('div', { class: 'page-head' },
      h('h1', {}, 'My videos'),
      h('p', { class: 'lead' }, 'Upload clips, follow their processing, and publish the ones you are proud of.')),
    h('div', { class: 'my-layout' }, form, listBox));
  replace(list, h('li', { class: 'muted' }, 'Loading your videos…'));

  competition().then((c) => {
    if (stopped) return;
    if (uploadsClosed(c)) closeUploads(UPLOADS_CLOSED);
    else if (c.uploads_close_at) {
      datesText.textContent = `Uploads close on ${when(c.uploads_close_at)}.`;
      datesText.hidden = false;
    }
  });

  // The uploader (Uppy) loads in the background; a restored upload shows once it is ready.
  let unsubscribe = () => {};
  uploader().then((e) => {
    if (stopped) return;
    engine = e;
    unsubscribe = engine.subscribe(onEngine);
    showState();
  }).catch(() => {
    form.querySelector('.form-error').textContent = 'The uploader could not be loaded. Reload the page to try again.';
  });

  try {
    const summaries = await api('GET', '/api/videos', { auth: true });
    const details = await Promise.all(summaries.map((s) => (
      s.status === 'processed' && s.processed_url
        ? Promise.resolve(s)
        : api('GET', `/api/videos/${s.video_id}`, { auth: true }).catch(() => s))));
    for (const d of details) videos.set(Number(d.video_id), d);
    renderList();
    followPending();
  } catch (err) {
    if (err.status !== 401) replace(list, h('li', { class: 'error-text' }, err.message));
  }

  // Leaving the page stops the status streams; an upload keeps going in the background.
  return () => {
    stopped = true;
    unsubscribe();
    for (const stop of following.values()) stop();
    following.clear();
  };
}
