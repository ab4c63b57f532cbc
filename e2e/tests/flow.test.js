// The whole player journey through the browser: sign up, resumable upload (a dropped
// connection, pause/resume, a page reload mid-upload), live status over SSE, publish,
// gallery posters and hover previews, vote, rankings, double vote, delete, sign-out,
// phone layout, /docs.
//
// Steps run in order and share state; once a step fails the later ones are skipped
// (they would only fail for the same reason).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE_URL, OUTPUT_DIR, clip, eventually, launch, shot, watchErrors } from './lib.js';
import { storedParts, watchUploads } from './uploads.js';

const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const PASSWORD = 'correct horse battery';
const ana = { first: 'Ana', last: 'Rivera', city: 'Medellín', country: 'Colombia', email: `ana.${RUN}@example.test` };
const luis = { first: 'Luis', last: 'Ortega', city: 'Bogotá', country: 'Colombia', email: `luis.${RUN}@example.test` };
const TITLE = `Freestyle kick-ups ${RUN}`;
const PROCESSING_TIMEOUT = Number(process.env.SKILLREEL_E2E_PROCESSING_TIMEOUT_MS || 300_000);

let browser;
let clipPath;
let clip2Path;
let anaCtx;
let luisCtx;
let ana1; // Ana's page
let luis1; // Luis's page
let videoId;
let resumedId; // uploaded across a page reload, then published
const errors = [];
let failed = null;

/** A test step that is skipped once an earlier one failed. */
function step(name, fn, timeout = 60_000) {
  it(name, { timeout }, async (t) => {
    if (failed) {
      t.skip(`an earlier step failed: ${failed}`);
      return;
    }
    try {
      await fn(t);
    } catch (err) {
      failed = name;
      throw err;
    }
  });
}

async function newPlayerPage(viewport = { width: 1200, height: 760 }) {
  const ctx = await browser.newContext({ viewport, baseURL: BASE_URL, locale: 'en-US' });
  const page = await ctx.newPage();
  watchErrors(page, errors);
  // Every API call the page makes, to tell live status (SSE) from polling.
  page.calls = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.pathname.startsWith('/api/')) page.calls.push(`${req.method()} ${url.pathname}`);
  });
  return { ctx, page };
}

async function signUp(page, p, { withMistakes = false } = {}) {
  await page.goto('/app/signup');
  await page.getByRole('heading', { name: 'Create your player account' }).waitFor();
  await page.getByLabel('First name').fill(p.first);
  await page.getByLabel('Last name').fill(p.last);
  await page.getByLabel('E-mail').fill(p.email);
  await page.getByLabel('City').fill(p.city);
  await page.getByLabel('Country').fill(p.country);
  if (withMistakes) {
    // Too short: a 422 whose message lands under the first password field.
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByLabel('Repeat password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await assert.doesNotReject(page.locator('#in-password1-error').filter({ hasText: /8/ }).waitFor());
    assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');
    // Different passwords: a 400 shown next to the repeat field.
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat password').fill(`${PASSWORD}!`);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#in-password2-error').filter({ hasText: 'Passwords do not match' }).waitFor();
    assert.equal(await page.locator('#in-password1-error').textContent(), '');
    await shot(page, 'signup-errors', { doc: 'signup' });
  }
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL('**/app/my');
  await page.getByRole('heading', { name: 'My videos' }).waitFor();
}

const COMPLETE = /\/api\/videos\/uploads\/[^/]+\/complete$/;

/**
 * Uploads `file` through the form (Uppy, resumable protocol). `drop`: the first two
 * attempts of part 2 lose their connection (Uppy must retry them by itself);
 * `throttle`: a slow uplink so the progress bar is seen moving; `pause`: pause, check
 * nothing is sent, resume.
 */
async function uploadThroughPage(page, title, { file = clipPath, throttle = false, drop = false, pause = false } = {}) {
  const form = page.locator('#upload-form');
  await form.getByLabel('Title').fill(title);
  await form.getByLabel('Video file').setInputFiles(file);
  const rec = await watchUploads(page, { fault: (part, attempt) => (drop && part === 2 && attempt <= 2 ? 'abort' : 'pass') });
  let cdp = null;
  if (throttle) {
    // Slow the upload down so the progress bar is visible for a while.
    cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 3 * 1024 * 1024,
    });
  }
  const response = page.waitForResponse((r) => COMPLETE.test(new URL(r.url()).pathname) && r.request().method() === 'POST', { timeout: 180_000 });
  await form.getByRole('button', { name: 'Upload' }).click();
  const seen = [];
  const bar = page.locator('#upload-progress');
  if (throttle) {
    await bar.waitFor({ state: 'visible' });
    await eventually(async () => {
      const v = Number(await bar.getAttribute('value'));
      if (v > 0) seen.push(v);
      return v >= 25 && v < 100;
    }, { timeout: 60_000, interval: 100, message: 'upload progress between 25 and 100%' });
    await shot(page, 'upload-progress', { doc: 'upload-progress' });
  }
  let paused = null;
  if (pause) {
    await form.getByRole('button', { name: 'Pause' }).click();
    await page.locator('#upload-form[data-phase="paused"]').waitFor();
    const sent = () => Object.values(rec.attempts).reduce((a, b) => a + b, 0);
    const before = { value: Number(await bar.getAttribute('value')), attempts: sent(), lists: rec.lists };
    await page.waitForTimeout(2500);
    assert.equal(sent(), before.attempts, 'no part was sent while paused');
    assert.equal(Number(await bar.getAttribute('value')), before.value, 'the progress bar stands still while paused');
    assert.match(await page.locator('#upload-progress-label').textContent(), /^Paused at \d+%/);
    assert.equal(await form.getByRole('button', { name: 'Resume' }).getAttribute('aria-pressed'), 'true');
    await shot(page, 'upload-paused', { doc: 'upload-paused' });
    await form.getByRole('button', { name: 'Resume' }).click();
    paused = before;
  }
  const res = await response;
  if (cdp) {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  }
  await rec.stop();
  assert.equal(res.status(), 201, `completion answered ${res.status()}: ${await res.text()}`);
  const body = await res.json();
  assert.ok(body.video_id, 'completion answer has a video_id');
  await page.locator(`#video-${body.video_id}`).waitFor();
  return { id: body.video_id, progressSeen: seen, rec, paused };
}

/** Waits on the page (no reload) for the video to reach `processed`; returns the statuses seen. */
async function waitProcessed(page, id) {
  const item = page.locator(`#video-${id}`);
  const statuses = new Set();
  let shotProcessing = false;
  await eventually(async () => {
    const status = await item.getAttribute('data-status');
    const badge = (await item.locator('.badge').textContent()) || '';
    statuses.add(`${status}${/\d+%/.test(badge) ? ' with %' : ''}`);
    if (status === 'processing' && !shotProcessing && /[1-9]\d*%/.test(badge)) {
      shotProcessing = true;
      await shot(page, 'processing', { doc: 'processing' });
    }
    if (status === 'failed') throw new Error(`processing failed: ${await item.textContent()}`);
    return status === 'processed';
  }, { timeout: PROCESSING_TIMEOUT, interval: 400, message: `video ${id} to be processed` }).catch((err) => {
    if (/processing failed/.test(String(err.message))) failed = 'processing';
    throw err;
  });
  // Live status came over the event stream, not by polling the video.
  const streams = page.calls.filter((c) => c === `GET /api/videos/${id}/events`).length;
  const reads = page.calls.filter((c) => c === `GET /api/videos/${id}`).length;
  assert.ok(streams >= 1, `the page opened no event stream for video ${id}`);
  assert.ok(reads <= 4, `the page read video ${id} ${reads} times: it polls instead of listening`);
  return statuses;
}

/** Is the card's preview running? (a video advancing, or an animated image shown) */
function previewRunning(card) {
  return card.locator('.preview-clip').evaluate((el) => (el.tagName === 'VIDEO'
    ? !el.paused && el.currentTime > 0.2 && el.readyState >= 2 && el.videoWidth > 0
    : el.isConnected && el.complete && el.naturalWidth > 0)).catch(() => false);
}

function previewStopped(card) {
  return card.locator('.preview-clip').evaluate((el) => (el.tagName === 'VIDEO' ? el.paused : !el.isConnected)).catch(() => true);
}

/** The card shows the poster made from the clip; the preview plays on hover and on focus. */
async function checkPosterAndPreview(page, id) {
  const card = page.locator(`.video-card[data-video-id="${id}"]`);
  const img = card.locator('img.poster');
  await img.waitFor();
  const poster = await img.evaluate(async (el) => {
    if (!el.complete) await new Promise((r) => { el.addEventListener('load', r, { once: true }); el.addEventListener('error', r, { once: true }); });
    return { width: el.naturalWidth, height: el.naturalHeight };
  });
  assert.ok(poster.width > 0, 'the poster did not load');
  assert.ok(Math.abs(poster.width / poster.height - 16 / 9) < 0.02, `poster is ${poster.width}x${poster.height}, not 16:9`);
  // Hover: the preview plays over the poster, silently; leaving stops it.
  await card.hover();
  await eventually(() => previewRunning(card), { timeout: 15_000, interval: 200, message: 'the preview to play on hover' });
  const muted = await card.locator('.preview-clip').evaluate((el) => el.tagName !== 'VIDEO' || el.muted);
  assert.equal(muted, true, 'the preview is not muted');
  await shot(page, 'gallery-hover');
  await page.mouse.move(1, 1);
  await eventually(() => previewStopped(card), { timeout: 5000, interval: 100, message: 'the preview to stop when the mouse leaves' });
  // Keyboard: focusing the card's link plays it, moving the focus away stops it.
  await card.locator('.card-title a').focus();
  await eventually(() => previewRunning(card), { timeout: 15_000, interval: 200, message: 'the preview to play on focus' });
  await page.getByLabel('Search titles').focus();
  await eventually(() => previewStopped(card), { timeout: 5000, interval: 100, message: 'the preview to stop on blur' });
}

describe('skillreel in a browser', { concurrency: 1 }, () => {
  before(async () => {
    clipPath = clip();
    clip2Path = clip('clip-bars', 'smptehdbars');
    browser = await launch();
    ({ ctx: anaCtx, page: ana1 } = await newPlayerPage());
    ({ ctx: luisCtx, page: luis1 } = await newPlayerPage());
  });

  after(async () => {
    await browser?.close();
  });

  step('the gallery and rankings load for a visitor', async () => {
    const res = await ana1.goto('/app/');
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'], /text\/html/);
    await ana1.getByRole('heading', { name: 'Gallery' }).waitFor();
    await ana1.locator('.results .grid, .results .empty').first().waitFor();
    await ana1.getByRole('link', { name: 'Rankings' }).click();
    await ana1.getByRole('heading', { name: 'Rankings' }).waitFor();
    await ana1.locator('#rankings, .results .empty').first().waitFor();
    // Unknown app paths serve the page, which says so.
    await ana1.goto('/app/no/such/page');
    await ana1.getByRole('heading', { name: 'Page not found' }).waitFor();
  });

  step('a player signs up through the page, seeing the API validation messages', async () => {
    await signUp(ana1, ana, { withMistakes: true });
    await shot(ana1, 'my-videos-empty');
    // The same e-mail again: the message sits next to the e-mail field.
    const { ctx, page } = await newPlayerPage();
    await page.goto('/app/signup');
    await page.getByLabel('First name').fill('Someone');
    await page.getByLabel('Last name').fill('Else');
    await page.getByLabel('E-mail').fill(ana.email.toUpperCase());
    await page.getByLabel('City').fill('Cali');
    await page.getByLabel('Country').fill('Colombia');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#in-email-error').filter({ hasText: /already exists/i }).waitFor();
    await ctx.close();
  });

  step('a file that is not an MP4 is refused after its upload, with the message under the file field', async () => {
    const bad = join(OUTPUT_DIR, 'not-a-video.mp4');
    writeFileSync(bad, Buffer.alloc(64 * 1024, 'this is not a video '));
    const form = ana1.locator('#upload-form');
    await form.getByLabel('Title').fill(`Not a clip ${RUN}`);
    await form.getByLabel('Video file').setInputFiles(bad);
    const completion = ana1.waitForResponse((r) => COMPLETE.test(new URL(r.url()).pathname) && r.request().method() === 'POST');
    await form.getByRole('button', { name: 'Upload' }).click();
    const res = await completion;
    assert.equal(res.status(), 400, `completion answered ${res.status()}`);
    const { detail } = await res.json();
    await ana1.locator('#in-video_file-error').filter({ hasText: detail }).waitFor();
    assert.equal(await form.getByLabel('Video file').getAttribute('aria-invalid'), 'true');
    await ana1.locator('#upload-form[data-phase="idle"]').waitFor();
    assert.equal(await ana1.locator('#my-videos li.my-item').count(), 0, 'a refused file became a video');
    await form.getByLabel('Title').fill('');
  });

  step('the clip uploads in parts with a real progress bar, a dropped connection and pause/resume', async () => {
    const up = await uploadThroughPage(ana1, TITLE, { throttle: true, drop: true, pause: true });
    videoId = up.id;
    assert.ok(up.progressSeen.some((v) => v > 0 && v < 100), `progress values seen: ${up.progressSeen}`);
    const { rec } = up;
    // Resumable protocol only: one upload created, parts PUT, one completion.
    assert.equal(rec.classic, 0, 'the classic multipart route was used');
    assert.equal(rec.creates, 1);
    assert.equal(rec.completes.length, 1);
    const parts = rec.completes[0].parts;
    assert.ok(parts.length >= 2, `only ${parts.length} part(s): the clip must need several`);
    assert.deepEqual(parts.map((p) => p.part_number), parts.map((_, i) => i + 1));
    assert.ok(parts.every((p) => typeof p.etag === 'string' && p.etag.length > 0), 'every part has its ETag');
    assert.deepEqual(storedParts(rec), parts.map((p) => p.part_number));
    // The dropped attempts of part 2 were retried without the player doing anything.
    assert.ok(rec.attempts[2] >= 3, `part 2 was tried ${rec.attempts[2]} times`);
    assert.ok(rec.puts.filter((p) => p.part === 2 && p.status === 0).length >= 2, 'the drops of part 2 happened');
    // Resuming after the pause asked the server which parts it already had.
    assert.ok(rec.lists > up.paused.lists, 'resume listed the stored parts');
  }, 240_000);

  step('the page follows processing until the video is processed', async () => {
    const statuses = await waitProcessed(ana1, videoId);
    console.log(`# statuses seen on the page: ${[...statuses].join(' → ')}`);
    assert.ok(statuses.has('processing with %'), `no live progress seen: ${[...statuses]}`);
    const item = ana1.locator(`#video-${videoId}`);
    await item.getByRole('button', { name: 'Publish' }).waitFor();
    // The processed preview plays and seeks (HTTP Range on local storage).
    const preview = item.locator('video.preview');
    await preview.waitFor();
    const seek = await preview.evaluate(async (v) => {
      if (v.readyState < 1) await new Promise((r, j) => { v.onloadedmetadata = r; v.onerror = () => j(new Error('video error')); });
      v.currentTime = Math.min(10, v.duration - 1);
      await new Promise((r) => { v.onseeked = r; });
      return { duration: v.duration, width: v.videoWidth, height: v.videoHeight, time: v.currentTime };
    });
    assert.ok(seek.duration > 15 && seek.duration <= 40, `duration ${seek.duration}`);
    assert.equal(seek.width, 1280);
    assert.equal(seek.height, 720);
    assert.ok(seek.time > 5, `seeked to ${seek.time}`);
    await shot(ana1, 'processed', { doc: 'my-videos' });
  }, PROCESSING_TIMEOUT + 60_000);

  step('an upload cut by a page reload resumes without sending the stored parts again', async () => {
    const form = ana1.locator('#upload-form');
    await form.getByLabel('Title').fill(`Colour bars ${RUN}`);
    await form.getByLabel('Video file').setInputFiles(clip2Path);
    // Part 1 gets through; the others stall, as on a network that dies mid-upload.
    const rec = await watchUploads(ana1, { fault: (part) => (part === 1 ? 'pass' : 'hold') });
    await form.getByRole('button', { name: 'Upload' }).click();
    await eventually(() => storedParts(rec).includes(1), { timeout: 60_000, interval: 200, message: 'part 1 stored' });
    await ana1.waitForTimeout(1200); // Golden Retriever saves its state at most every 500 ms
    // The network dies for good: the stalled parts fail, and so does any retry, so no
    // byte of parts 2+ reaches the server before the reload (a held request would be let
    // through once its route is removed).
    rec.fault = () => 'abort';
    await Promise.all(rec.held.splice(0).map((route) => route.abort('connectionreset').catch(() => {})));
    await ana1.reload();
    await rec.stop();
    const stored = storedParts(rec);
    assert.deepEqual(stored, [1], `parts stored before the reload: ${stored}`);

    const after = await watchUploads(ana1);
    const restore = ana1.locator('#upload-restore');
    await restore.waitFor();
    assert.match(await restore.textContent(), /Colour bars .* was interrupted at \d+%/);
    await shot(ana1, 'upload-restore', { doc: 'upload-restore' });
    const response = ana1.waitForResponse((r) => COMPLETE.test(new URL(r.url()).pathname) && r.request().method() === 'POST', { timeout: 180_000 });
    await restore.getByRole('button', { name: 'Resume upload' }).click();
    const res = await response;
    await after.stop();
    assert.equal(res.status(), 201, `completion answered ${res.status()}: ${await res.text()}`);
    resumedId = (await res.json()).video_id;
    assert.ok(after.lists >= 1, 'the resumed upload listed the stored parts');
    assert.equal(after.creates, 0, 'the resumed upload created no new upload');
    assert.equal(after.attempts[1], undefined, 'part 1 was sent again after the reload');
    const parts = after.completes[0].parts.map((p) => p.part_number);
    assert.ok(parts.length >= 2);
    assert.deepEqual(parts, parts.map((_, i) => i + 1));
    const traffic = JSON.stringify({ before: { puts: rec.puts, attempts: rec.attempts }, after: { puts: after.puts, attempts: after.attempts, signed: after.signed } });
    assert.deepEqual(storedParts(after), parts.slice(1), `parts sent after the reload: ${traffic}`);
    await ana1.locator(`#video-${resumedId}`).waitFor();
    assert.equal(await ana1.locator('#upload-form').getAttribute('data-phase'), 'idle');
    // Nothing is left to restore: another reload shows the empty form.
    await ana1.reload();
    await ana1.locator('#upload-form[data-phase="idle"]').waitFor();
    await ana1.waitForTimeout(1000); // Golden Retriever reads its storage asynchronously
    assert.equal(await ana1.locator('#upload-restore').isVisible(), false);
  }, 240_000);

  step('publishing makes it public and locks deletion, with the reason shown', async () => {
    // The clip uploaded across the reload goes public too: the gallery shows two posters.
    await waitProcessed(ana1, resumedId);
    await ana1.locator(`#video-${resumedId}`).getByRole('button', { name: 'Publish' }).click();
    await ana1.locator(`#video-${resumedId}[data-status="public"]`).waitFor();
    const item = ana1.locator(`#video-${videoId}`);
    await item.getByRole('button', { name: 'Publish' }).click();
    await ana1.locator(`#video-${videoId}[data-status="public"]`).waitFor();
    const del = ana1.locator(`#video-${videoId}`).getByRole('button', { name: 'Delete' });
    assert.equal(await del.isDisabled(), true);
    await ana1.locator(`#video-${videoId} .why`).filter({ hasText: /cannot be deleted/ }).waitFor();
    await shot(ana1, 'published');
  });

  step('the owner sees "your own video" instead of a vote button', async () => {
    await ana1.goto(`/app/videos/${videoId}`);
    const button = ana1.locator('#vote-button');
    await button.filter({ hasText: 'Your own video' }).waitFor();
    assert.equal(await button.isDisabled(), true);
  });

  step('a second player signs up, finds the video in the gallery and votes', async () => {
    await signUp(luis1, luis);
    await luis1.getByRole('link', { name: 'Gallery' }).click();
    await luis1.getByLabel('Search titles').fill(RUN);
    await luis1.getByRole('button', { name: 'Search' }).click();
    await luis1.waitForURL(/\?q=/);
    const card = luis1.locator(`.video-card[data-video-id="${videoId}"]`);
    await card.waitFor();
    assert.match(await card.textContent(), /Ana Rivera/);
    assert.match(await card.textContent(), /Medellín/);
    await luis1.getByLabel('Search titles').fill('');
    await luis1.getByRole('button', { name: 'Search' }).click();
    await luis1.locator('.video-card').first().waitFor();
    await checkPosterAndPreview(luis1, videoId);
    await luis1.locator(`.video-card[data-video-id="${resumedId}"] img.poster`).waitFor();
    await luis1.evaluate(() => document.activeElement?.blur());
    await shot(luis1, 'gallery', { doc: 'gallery' });
    await luis1.locator(`.video-card[data-video-id="${videoId}"] .card-title a`).click();
    await luis1.getByRole('heading', { name: TITLE }).waitFor();
    await luis1.locator('#vote-count').filter({ hasText: '0 votes' }).waitFor();
    await luis1.getByRole('button', { name: 'Vote', exact: true }).click();
    await luis1.locator('#vote-button').filter({ hasText: 'Voted' }).waitFor();
    await luis1.locator('#vote-count').filter({ hasText: '1 vote' }).waitFor();
    assert.equal(await luis1.locator('#vote-button').isDisabled(), true);
    // The video plays and seeks from the public page.
    const state = await luis1.locator('video.video-player').evaluate(async (v) => {
      if (v.readyState < 1) await new Promise((r) => { v.onloadedmetadata = r; });
      v.currentTime = 12;
      await new Promise((r) => { v.onseeked = r; });
      return v.currentTime;
    });
    assert.ok(state > 10);
    await shot(luis1, 'voted', { doc: 'video' });
  });

  step('the ranking shows the vote', async () => {
    await eventually(async () => {
      await luis1.goto(`/app/rankings?city=${encodeURIComponent(ana.city)}`);
      const row = luis1.locator('#rankings tbody tr', { hasText: 'Ana Rivera' }).first();
      await row.waitFor({ timeout: 5000 });
      return Number((await row.locator('td.votes').textContent()).replace(/\D/g, '')) >= 1;
    }, { timeout: 20_000, interval: 1000, message: 'Ana with a vote in the rankings' });
    await luis1.goto('/app/rankings');
    const row = luis1.locator('#rankings tbody tr', { hasText: 'Ana Rivera' }).first();
    await row.waitFor();
    assert.match(await row.textContent(), /Medellín/);
    await shot(luis1, 'rankings', { doc: 'rankings' });
  });

  step('voting twice is refused: the button says voted and shows the API message', async () => {
    // A new tab starts without the session's memory of the vote: the API answers 400.
    const tab = await luisCtx.newPage();
    watchErrors(tab, errors);
    await tab.goto(`/app/videos/${videoId}`);
    const vote = tab.getByRole('button', { name: 'Vote', exact: true });
    await vote.waitFor();
    const answer = tab.waitForResponse((r) => r.url().includes(`/api/public/videos/${videoId}/vote`));
    await vote.click();
    assert.equal((await answer).status(), 400);
    await tab.locator('#vote-message').filter({ hasText: 'You have already voted for this video' }).waitFor();
    await tab.locator('#vote-button').filter({ hasText: 'Voted' }).waitFor();
    await tab.reload();
    await tab.locator('#vote-button').filter({ hasText: 'Voted' }).waitFor();
    await shot(tab, 'already-voted');
    await tab.close();
  });

  step('an unpublished video is deleted after confirming the dialog', async () => {
    await ana1.goto('/app/my');
    const up = await uploadThroughPage(ana1, `To delete ${RUN}`);
    const item = ana1.locator(`#video-${up.id}`);
    await waitProcessed(ana1, up.id);
    // Cancel first: nothing happens.
    await item.getByRole('button', { name: 'Delete' }).click();
    const dialog = ana1.getByRole('dialog', { name: 'Delete this video?' });
    await dialog.waitFor();
    await shot(ana1, 'delete-dialog', { doc: 'delete-dialog' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await item.count(), 1);
    // Then confirm.
    await item.getByRole('button', { name: 'Delete' }).click();
    const answer = ana1.waitForResponse((r) => r.request().method() === 'DELETE');
    await ana1.getByRole('dialog').getByRole('button', { name: 'Delete video' }).click();
    assert.equal((await answer).status(), 200);
    await item.waitFor({ state: 'detached' });
    await ana1.getByRole('status').filter({ hasText: 'was deleted' }).waitFor();
    const status = await ana1.evaluate(async (id) => {
      const { token } = JSON.parse(localStorage.getItem('skillreel.session'));
      const r = await fetch(`/api/videos/${id}`, { headers: { Authorization: `Bearer ${token}` } });
      return r.status;
    }, up.id);
    assert.equal(status, 404);
    // The published one is still there.
    await ana1.locator(`#video-${videoId}[data-status="public"]`).waitFor();
  }, PROCESSING_TIMEOUT + 120_000);

  step('signing out clears the session; a visitor is asked to sign in to vote', async () => {
    await luis1.getByRole('button', { name: 'Sign out' }).click();
    await luis1.getByRole('link', { name: 'Sign in' }).waitFor();
    assert.equal(await luis1.evaluate(() => localStorage.getItem('skillreel.session')), null);
    await luis1.goto(`/app/videos/${videoId}`);
    await luis1.getByRole('link', { name: 'Sign in to vote' }).click();
    await luis1.getByRole('heading', { name: 'Sign in' }).waitFor();
    // A wrong password is reported on the form.
    await luis1.getByLabel('E-mail').fill(luis.email);
    await luis1.getByLabel('Password').fill('wrong password!');
    await luis1.getByRole('button', { name: 'Sign in' }).click();
    await luis1.locator('.form-error').filter({ hasText: /invalid email or password/i }).waitFor();
    await shot(luis1, 'signin-error', { doc: 'signin' });
    await luis1.getByLabel('Password').fill(PASSWORD);
    await luis1.getByRole('button', { name: 'Sign in' }).click();
    await luis1.waitForURL(`**/app/videos/${videoId}`);
    await luis1.locator('#vote-button').waitFor();
  });

  step('a rejected token signs the player out with a message', async () => {
    await luis1.evaluate(() => {
      const s = JSON.parse(localStorage.getItem('skillreel.session'));
      s.token = 'not-a-valid-token';
      localStorage.setItem('skillreel.session', JSON.stringify(s));
    });
    await luis1.goto('/app/my');
    await luis1.locator('#banner').filter({ hasText: /sign in again/i }).waitFor();
    await luis1.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal(await luis1.evaluate(() => localStorage.getItem('skillreel.session')), null);
  });

  step('the gallery works on a phone-sized screen', async () => {
    const { ctx, page } = await newPlayerPage({ width: 390, height: 844 });
    await page.goto('/app/');
    await page.locator(`.video-card[data-video-id="${videoId}"]`).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
    await shot(page, 'phone-gallery', { doc: 'gallery-phone' });
    await page.goto('/app/rankings');
    await page.locator('#rankings').waitFor();
    await shot(page, 'phone-rankings');
    await ctx.close();
  });

  step('keyboard: the skip link and the navigation are reachable with Tab', async () => {
    const { ctx, page } = await newPlayerPage();
    await page.goto('/app/');
    await page.getByRole('heading', { name: 'Gallery' }).waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Rankings');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Rankings' }).waitFor();
    await ctx.close();
  });

  step('/docs lists the operations and its "try it" form calls the API', async () => {
    const { ctx, page } = await newPlayerPage({ width: 1200, height: 900 });
    await page.goto('/docs');
    const op = page.locator('[data-operation="GET /api/public/rankings"]');
    await op.waitFor();
    assert.ok(await page.locator('[data-operation]').count() >= 12);
    await op.locator(':scope > summary').click();
    await op.getByLabel('city').fill(ana.city);
    await op.getByRole('button', { name: 'Send' }).click();
    await op.locator('.response-status').filter({ hasText: '200' }).waitFor();
    assert.match(await op.locator('.response-body').textContent(), /Ana Rivera/);
    await shot(page, 'docs', { doc: 'docs' });
    await ctx.close();
  });

  step('no page logged an error', async () => {
    // Expected 4xx answers are logged by Chromium as failed resources; ignore those.
    // The connection drops the upload test injects are logged by Chromium as well.
    const unexpected = errors.filter((e) => !/status of (400|401|403|404|409|422)|net::ERR_CONNECTION_RESET/.test(e));
    assert.deepEqual(unexpected, []);
  });
});
