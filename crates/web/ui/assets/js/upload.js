// Resumable uploads: the vendored Uppy (core + AWS S3 multipart + Golden Retriever)
// driving the API's /api/videos/uploads endpoints.
//
// The server decides the part size, so the upload is created (POST /api/videos/uploads)
// before Uppy sees the file: the title/size/type errors come back before any byte is
// sent, and Uppy cuts the file into exactly the parts the server expects. Uppy then asks
// for a URL per part (presigned S3 URL, or a signed URL of the web service on local
// storage), PUTs the bytes there with automatic retries, and completes the upload.
// Golden Retriever keeps the file (IndexedDB) and the upload id (localStorage) so a
// reloaded page offers to resume; the parts already stored are listed, not re-sent.
//
// One engine per signed-in player lives for the whole page session, so an upload keeps
// going while the player browses other pages of the app.
import { api, ApiError } from './api.js';
import * as session from './session.js';

const UPPY_MODULE = '/app/assets/vendor/uppy.min.js';

/** Delays (ms) before each new attempt of a failed part: five tries over ~19 s. */
export const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000];

/** Requests at once (parts and API calls): a pause or a drop loses at most two parts. */
const CONCURRENCY = 2;

/** How long an interrupted upload can be resumed after a reload (the server expires it too). */
const KEEP_MS = 24 * 60 * 60 * 1000;

/** The largest file kept in the browser for a resume (the upload limit, with room). */
const MAX_KEPT_BYTES = 128 * 1024 * 1024;

const path = (uploadId) => `/api/videos/uploads/${encodeURIComponent(uploadId)}`;

/** FNV-1a of the e-mail: a per-player storage name without the address in it. */
function storageId(email) {
  let hash = 0x811c9dc5;
  for (const ch of email) {
    hash ^= ch.codePointAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `skillreel-upload-${hash.toString(16)}`;
}

class Engine {
  constructor({ Uppy, AwsS3, GoldenRetriever }, email) {
    this.listeners = new Set();
    this.partSize = 5 * 1024 * 1024;
    /** A restored upload is offered until the player resumes or discards it. */
    this.restoredHandled = false;
    /** The answer of a completion the server refused (400/422): final, not retried. */
    this.rejected = null;

    const uppy = new Uppy({
      id: storageId(email),
      autoProceed: false,
      allowMultipleUploadBatches: true,
      // The form shows every failure to the player; the console gets warnings, not
      // errors (a refused file or a dropped part is not a bug of the page).
      logger: { debug() {}, warn: (...args) => console.warn(...args), error: (...args) => console.warn('[upload]', ...args) },
    });
    this.uppy = uppy;
    uppy.use(AwsS3, {
      shouldUseMultipart: true,
      limit: CONCURRENCY,
      retryDelays: RETRY_DELAYS,
      // Called when Uppy cuts the file, before createMultipartUpload: the part size the
      // server gave when the upload was created (kept in the file's meta for a reload).
      getChunkSize: () => this.partSize,
      // Created already by start(); Uppy's "key" is the upload id.
      createMultipartUpload: (file) => {
        const uploadId = file.meta.upload_id;
        if (!uploadId) throw new Error('This upload has no upload id: start it again.');
        return { uploadId, key: uploadId };
      },
      signPart: async (file, { uploadId, partNumber, signal }) => {
        const r = await api('GET', `${path(uploadId)}/parts/${partNumber}`, { auth: true, signal });
        return { url: r.url, method: r.method || 'PUT', headers: r.headers || {} };
      },
      listParts: async (file, { uploadId, signal }) => {
        const parts = await api('GET', `${path(uploadId)}/parts`, { auth: true, signal });
        return parts.map((p) => ({ PartNumber: p.part_number, Size: p.size, ETag: p.etag }));
      },
      completeMultipartUpload: async (file, { uploadId, parts, signal }) => {
        try {
          const created = await api('POST', `${path(uploadId)}/complete`, {
            auth: true,
            signal,
            body: { parts: parts.map((p) => ({ part_number: p.PartNumber, etag: p.ETag })) },
          });
          return { ...created, location: undefined };
        } catch (err) {
          // A refused file is gone on the server: report it, do not offer a retry.
          if (err instanceof ApiError && err.status >= 400 && err.status < 500) this.rejected = err;
          throw err;
        }
      },
      // Uppy calls this when a part fails for good, too. The parts are kept then, so
      // "Retry" resumes instead of starting over; cancel() deletes the upload itself.
      abortMultipartUpload: () => undefined,
    });
    // Golden Retriever keeps files of up to 10 MiB by default; clips go up to 100 MB.
    uppy.use(GoldenRetriever, { expires: KEEP_MS, indexedDB: { maxFileSize: MAX_KEPT_BYTES, maxTotalSize: 2 * MAX_KEPT_BYTES } });

    uppy.on('state-update', () => this.emit('change'));
    uppy.on('upload-success', (file, response) => {
      this.emit('success', { ...response.body, title: file.meta.title });
    });
    uppy.on('upload-error', (file, error) => {
      if (this.rejected) {
        const err = this.rejected;
        this.rejected = null;
        this.forget(file.id);
        this.emit('rejected', err);
      } else {
        this.emit('failed', error);
      }
    });
    uppy.on('complete', () => {
      for (const f of uppy.getFiles()) if (f.progress.uploadComplete) this.forget(f.id);
    });
  }

  /** Calls `fn(kind, detail)` on 'change', 'success', 'failed' and 'rejected'; returns an unsubscribe. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(kind, detail) {
    for (const fn of this.listeners) fn(kind, detail);
  }

  file() {
    return this.uppy.getFiles()[0] ?? null;
  }

  /**
   * What the form shows: {phase, title, name, sent, total, error, ghost}; phase is
   * 'idle', 'uploading', 'paused', 'failed', 'restored' (from an earlier page) or
   * 'completing' (all bytes sent, the server is checking the video).
   */
  state() {
    const f = this.file();
    if (!f) return { phase: 'idle' };
    const total = f.size ?? f.progress.bytesTotal ?? 0;
    const sent = Math.min(total, f.progress.bytesUploaded || 0);
    const base = { title: f.meta.title, name: f.name, sent, total, error: f.error || null, ghost: Boolean(f.isGhost) };
    let phase;
    if (f.isRestored && !this.restoredHandled) phase = 'restored';
    else if (f.error) phase = 'failed';
    else if (f.isPaused) phase = 'paused';
    else if (total > 0 && sent >= total && !f.progress.uploadComplete) phase = 'completing';
    else phase = 'uploading';
    return { ...base, phase };
  }

  /** Creates the upload on the server (rejects with its ApiError), then sends the file. */
  async start(title, file) {
    for (const f of this.uppy.getFiles()) this.forget(f.id);
    this.restoredHandled = true;
    this.rejected = null;
    const created = await api('POST', '/api/videos/uploads', {
      auth: true,
      body: { title, filename: file.name, size: file.size, content_type: file.type || 'video/mp4' },
    });
    this.partSize = created.part_size;
    this.uppy.addFile({
      name: file.name,
      type: file.type || 'video/mp4',
      data: file,
      meta: { title, upload_id: created.upload_id, part_size: created.part_size },
    });
    this.uppy.upload().catch(() => { /* reported through 'upload-error' */ });
  }

  /** Pauses or resumes the running upload; true when now paused. */
  pauseResume() {
    const f = this.file();
    return f ? this.uppy.pauseResume(f.id) : undefined;
  }

  /** Retries an upload whose parts failed for good, from the parts already stored. */
  retry() {
    const f = this.file();
    if (!f) return;
    // Uppy forgets the upload id after a failure; give it back so it lists the stored
    // parts and only sends the missing ones.
    this.uppy.setFileState(f.id, { s3Multipart: { key: f.meta.upload_id, uploadId: f.meta.upload_id } });
    this.partSize = f.meta.part_size || this.partSize;
    this.uppy.retryUpload(f.id).catch(() => { /* reported through 'upload-error' */ });
  }

  /** Resumes an upload restored from an earlier page. */
  resumeRestored() {
    const f = this.file();
    if (!f) return;
    this.restoredHandled = true;
    this.partSize = f.meta.part_size || this.partSize;
    if (f.meta.upload_id && !f.s3Multipart?.uploadId) {
      // Reloaded before Uppy recorded the id: resume from the server's list all the same.
      this.uppy.setFileState(f.id, { s3Multipart: { key: f.meta.upload_id, uploadId: f.meta.upload_id } });
    }
    this.uppy.emit('restore-confirmed');
  }

  /** Stops the upload and deletes it on the server (its parts go with it). */
  async cancel() {
    const f = this.file();
    if (!f) return;
    this.restoredHandled = true;
    const uploadId = f.meta.upload_id;
    this.forget(f.id);
    if (uploadId) {
      await api('DELETE', path(uploadId), { auth: true }).catch((err) => {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      });
    }
  }

  /** Drops a file from Uppy (and from Golden Retriever's storage). */
  forget(id) {
    try {
      this.uppy.removeFile(id);
    } catch { /* already gone */ }
  }

  /** Stops sending (another player signed in on this browser); kept for a later resume. */
  suspend() {
    this.uppy.pauseAll();
  }
}

let current = null;

/** The upload engine of the signed-in player (Uppy is loaded on first use). */
export function uploader() {
  const email = session.current()?.email ?? '';
  if (!current || current.email !== email) {
    current?.engine.then((e) => e.suspend()).catch(() => {});
    current = {
      email,
      engine: import(UPPY_MODULE).then((mod) => new Engine(mod, email)),
    };
    // A failed load (e.g. offline) must not stick: the next page visit tries again.
    const attempt = current;
    attempt.engine.catch(() => { if (current === attempt) current = null; });
  }
  return current.engine;
}

// Signing out stops the upload; the same player can resume it after signing in again.
session.onChange(() => {
  if (current && current.email !== (session.current()?.email ?? '')) {
    current.engine.then((e) => e.suspend()).catch(() => {});
    current = null;
  }
});
