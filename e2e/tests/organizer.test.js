// An organizer runs the competition through the browser: the dashboard's charts, hiding
// and restoring a public video (gone from the fans' gallery meanwhile), suspending its
// owner (signed out with a message), the rankings CSV checked row for row against the
// public rankings, the closing dates, and the audit log.
//
// Needs the server to name SKILLREEL_E2E_ADMIN_EMAIL in ADMIN_EMAILS (scripts/e2e.sh
// does); skipped otherwise. Steps share state; once one fails the later ones are skipped.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BASE_URL, clip, eventually, launch, shot, watchErrors } from './lib.js';
import { PASSWORD, account, allRankings, call, parseCsv, publicVideos, publishedVideo } from './api.js';

const ADMIN_EMAIL = process.env.SKILLREEL_E2E_ADMIN_EMAIL || '';
const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const organizer = { first: 'Olivia', last: 'Organizer', city: 'Bogotá', country: 'Colombia', email: ADMIN_EMAIL };
const owner = { first: 'Marta', last: 'Gómez', city: `Cali ${RUN}`, country: 'Colombia', email: `marta.${RUN}@example.test` };
const fan = { first: 'Fabio', last: 'Fan', city: 'Pasto', country: 'Colombia', email: `fabio.${RUN}@example.test` };
const TITLE = `Rabona goal ${RUN}`;
const REASON = `Copyrighted music in the clip (${RUN})`;

let browser;
let orgPage;
let ownerPage;
let fanPage;
let ownerAcc;
let fanAcc;
let videoId;
const errors = [];
let failed = ADMIN_EMAIL ? null : 'SKILLREEL_E2E_ADMIN_EMAIL is not set';

function step(name, fn, timeout = 60_000) {
  it(name, { timeout }, async (t) => {
    if (failed) {
      t.skip(failed === name ? undefined : `skipped: ${failed}`);
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

async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: BASE_URL, locale: 'en-US', acceptDownloads: true });
  const page = await ctx.newPage();
  watchErrors(page, errors);
  return page;
}

/** Signs in through the form. */
async function signIn(page, email) {
  await page.goto('/app/signin');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** How many pixels of the canvas are close to `rgb` (what the chart drew in that colour). */
function pixelsOf(page, selector, rgb) {
  return page.locator(selector).evaluate((canvas, [r, g, b]) => {
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && Math.abs(data[i] - r) < 24 && Math.abs(data[i + 1] - g) < 24 && Math.abs(data[i + 2] - b) < 24) n += 1;
    }
    return n;
  }, rgb);
}

/**
 * Does the fans' gallery (searched by this run's title) show the video? Reloads until it
 * says `shown`: one load can be a public cache's last good answer (`x-cache: stale`,
 * served when a load is slower than CACHE_STALE_AFTER_MS on a busy machine), and the
 * page asks once.
 */
async function galleryShows(id, shown) {
  await eventually(async () => {
    await fanPage.goto(`/app/?q=${encodeURIComponent(RUN)}`);
    await fanPage.locator('.results .video-card, .results .empty').first().waitFor({ timeout: 5000 });
    return (await fanPage.locator(`.video-card[data-video-id="${id}"]`).count()) === (shown ? 1 : 0);
  }, { timeout: 30_000, interval: 1000, message: `the gallery to ${shown ? 'show' : 'leave out'} video ${id}` });
}

/** Is the video in the public list (searched by this run's title)? */
async function isPublic(id) {
  return (await publicVideos(RUN)).some((v) => Number(v.id) === id);
}

describe('the organizer in a browser', { concurrency: 1 }, () => {
  before(async () => {
    if (failed) return;
    browser = await launch();
    [orgPage, ownerPage, fanPage] = await Promise.all([newPage(), newPage(), newPage()]);
  });

  after(async () => {
    await browser?.close();
  });

  step('a player publishes a clip and a fan votes for it (through the API)', async () => {
    ownerAcc = await account(owner);
    fanAcc = await account(fan);
    assert.equal(ownerAcc.role, 'player');
    videoId = await publishedVideo(ownerAcc.token, clip(), TITLE);
    await call('POST', `/api/public/videos/${videoId}/vote`, { token: fanAcc.token });
  }, 360_000);

  step('a player sees no organizer pages', async () => {
    await signIn(fanPage, fan.email);
    await fanPage.getByRole('heading', { name: 'My videos' }).waitFor();
    assert.equal(await fanPage.getByRole('link', { name: 'Organizer' }).count(), 0);
    await fanPage.goto('/app/admin');
    await fanPage.getByRole('heading', { name: 'Organizers only' }).waitFor();
  });

  step('the organizer signs in and lands on the dashboard', async () => {
    await account(organizer);
    await signIn(orgPage, ADMIN_EMAIL);
    await orgPage.waitForURL('**/app/admin');
    await orgPage.getByRole('link', { name: 'Organizer' }).waitFor();
    await orgPage.getByRole('heading', { name: 'Organizer dashboard' }).waitFor();
  });

  step('the organizer hides the video with a reason; fans no longer see it', async () => {
    await orgPage.getByRole('navigation', { name: 'Organizer pages' }).getByRole('link', { name: 'Moderation' }).click();
    await orgPage.getByRole('heading', { name: 'Moderation' }).waitFor();
    const row = orgPage.locator(`#mod-${videoId}`);
    await row.waitFor();
    assert.match(await row.textContent(), new RegExp(owner.email.replace(/\./g, '\\.')));
    // The screenshot shows the poster (when the row has one).
    await row.locator('img.mod-thumb').evaluateAll((imgs) => Promise.race([
      Promise.all(imgs.map((img) => img.decode().catch(() => {}))),
      new Promise((r) => { setTimeout(r, 5000); }),
    ]));
    await row.getByRole('button', { name: `Hide: ${TITLE}` }).click();
    const dialog = orgPage.getByRole('dialog', { name: 'Hide this video?' });
    await dialog.waitFor();
    // A reason is required.
    await dialog.getByRole('button', { name: 'Hide video' }).click();
    await dialog.locator('#reason-error').filter({ hasText: /reason/ }).waitFor();
    await dialog.getByLabel('Reason').fill(REASON);
    const answer = orgPage.waitForResponse((r) => r.url().endsWith(`/api/admin/videos/${videoId}/hide`));
    await dialog.getByRole('button', { name: 'Hide video' }).click();
    assert.equal((await answer).status(), 200);
    await orgPage.locator(`#mod-${videoId}[data-status="hidden"]`).filter({ hasText: REASON }).waitFor();
    await shot(orgPage, 'organizer-moderation', { doc: 'organizer-moderation' });
    // The status filter finds it among the hidden ones.
    await orgPage.getByLabel('Status').selectOption('hidden');
    await orgPage.getByRole('button', { name: 'Show' }).click();
    await orgPage.waitForURL(/status=hidden/);
    await orgPage.locator(`#mod-${videoId}[data-status="hidden"]`).waitFor();
    // A fan: gone from the gallery and the API's public list; its owner sees why.
    await eventually(async () => !(await isPublic(videoId)), { message: 'the video to leave the public list' });
    await galleryShows(videoId, false);
    await signIn(ownerPage, owner.email);
    await ownerPage.locator(`#video-${videoId}[data-status="hidden"] .hidden-reason`).filter({ hasText: REASON }).waitFor();
  });

  step('restoring brings it back to the fans', async () => {
    await orgPage.locator(`#mod-${videoId}`).getByRole('button', { name: `Restore: ${TITLE}` }).click();
    const dialog = orgPage.getByRole('dialog', { name: 'Restore this video?' });
    const answer = orgPage.waitForResponse((r) => r.url().endsWith(`/api/admin/videos/${videoId}/restore`));
    await dialog.getByRole('button', { name: 'Restore video' }).click();
    assert.equal((await answer).status(), 200);
    await orgPage.locator('#moderation, .results .empty').first().waitFor();
    await eventually(() => isPublic(videoId), { message: 'the video to be public again' });
    await galleryShows(videoId, true);
  });

  step('suspending the owner signs them out with a message; unsuspending restores', async () => {
    await orgPage.getByRole('link', { name: 'Moderation' }).click();
    const row = orgPage.locator(`#mod-${videoId}`);
    await row.getByRole('button', { name: `Suspend owner: ${TITLE}` }).click();
    const dialog = orgPage.getByRole('dialog', { name: /^Suspend / });
    await dialog.getByLabel('Reason').fill(`Fake accounts voting (${RUN})`);
    await dialog.getByRole('button', { name: 'Suspend account' }).click();
    await row.getByRole('button', { name: `Unsuspend owner: ${TITLE}` }).waitFor();
    // The owner's open page: the next call is refused, the page signs out and says why.
    await ownerPage.reload();
    await ownerPage.locator('#banner').filter({ hasText: /suspended/i }).waitFor();
    await ownerPage.getByRole('link', { name: 'Sign in' }).waitFor();
    assert.equal(await ownerPage.evaluate(() => localStorage.getItem('skillreel.session')), null);
    await eventually(async () => !(await isPublic(videoId)), { message: 'the suspended owner\'s video to leave the public list' });
    await row.getByRole('button', { name: `Unsuspend owner: ${TITLE}` }).click();
    await orgPage.getByRole('dialog', { name: /^Lift the suspension/ }).getByRole('button', { name: 'Unsuspend account' }).click();
    await row.getByRole('button', { name: `Suspend owner: ${TITLE}` }).waitFor();
    await eventually(() => isPublic(videoId), { message: 'the video to be public again' });
  });

  step('a fan\'s playback counts a view, shown in the gallery and the trending strip', async () => {
    await fanPage.goto(`/app/videos/${videoId}`);
    const view = fanPage.waitForResponse((r) => r.url().endsWith(`/api/public/videos/${videoId}/view`));
    await fanPage.locator('video.video-player').evaluate((v) => { v.muted = true; return v.play(); });
    assert.equal((await view).status(), 204);
    await eventually(async () => {
      await fanPage.goto('/app/');
      const card = fanPage.locator(`.video-card[data-video-id="${videoId}"] .votes`);
      await card.waitFor({ timeout: 5000 });
      return /1 vote · 1 view$/.test(await card.textContent());
    }, { timeout: 20_000, interval: 1000, message: 'the card to show 1 vote and 1 view' });
    const trend = fanPage.locator(`#trending .trend[data-video-id="${videoId}"]`);
    await trend.waitFor();
    assert.match(await trend.textContent(), /\+1 vote in 24 h · 1 view/);
  });

  step('the dashboard shows the numbers with its charts drawn', async () => {
    await orgPage.getByRole('navigation', { name: 'Organizer pages' }).getByRole('link', { name: 'Dashboard' }).click();
    await orgPage.getByRole('heading', { name: 'Organizer dashboard' }).waitFor();
    await orgPage.locator('#stats[data-loaded="true"]').waitFor();
    const stat = async (key) => Number((await orgPage.locator(`[data-stat="${key}"] dd`).textContent()).replace(/\D/g, ''));
    assert.ok(await stat('players') >= 3, 'players counted');
    assert.ok(await stat('videos-public') >= 1, 'public videos counted');
    assert.ok(await stat('votes') >= 1, 'votes counted');
    assert.ok(await stat('views') >= 1, 'views counted');
    // The bars of this hour's upload and the line of this hour's vote are drawn in
    // their colours (an empty chart has only its grey axes and labels).
    await eventually(async () => await pixelsOf(orgPage, '#chart-uploads', [29, 78, 216]) > 20, { timeout: 5000, message: 'upload bars drawn' });
    await eventually(async () => await pixelsOf(orgPage, '#chart-votes', [6, 118, 71]) > 20, { timeout: 5000, message: 'votes line drawn' });
    await eventually(async () => await pixelsOf(orgPage, '#chart-cities', [29, 78, 216]) > 20, { timeout: 5000, message: 'city bars drawn' });
    // It polls: a second answer arrives without a reload.
    const next = await orgPage.waitForResponse((r) => r.url().endsWith('/api/admin/stats'), { timeout: 20_000 });
    assert.equal(next.status(), 200);
    await shot(orgPage, 'organizer-dashboard', { doc: 'organizer-dashboard' });
  });

  step('the CSV download matches the public rankings row for row', async () => {
    await orgPage.getByRole('link', { name: 'Competition' }).click();
    await orgPage.getByRole('heading', { name: 'Competition' }).waitFor();
    let last = null;
    await eventually(async () => {
      const [download] = await Promise.all([
        orgPage.waitForEvent('download'),
        orgPage.getByRole('button', { name: 'Download rankings.csv' }).click(),
      ]);
      assert.equal(download.suggestedFilename(), 'rankings.csv');
      const csv = parseCsv(readFileSync(await download.path(), 'utf8'));
      const ranking = await allRankings();
      last = { csv, ranking };
      assert.deepEqual(csv[0], ['position', 'player', 'email', 'city', 'votes', 'public_videos']);
      const body = csv.slice(1);
      assert.equal(body.length, ranking.length, 'as many rows as the public ranking');
      body.forEach((r, i) => {
        const p = ranking[i];
        assert.deepEqual([Number(r[0]), r[1], r[3], Number(r[4])], [p.position, p.username, p.city, p.votes], `row ${i + 1}`);
      });
      return true;
    }, { timeout: 20_000, interval: 1000, message: 'the CSV to match the rankings' }).catch((err) => {
      throw new Error(`${err.message}\n${JSON.stringify(last)?.slice(0, 2000)}`);
    });
    const marta = last.csv.find((r) => r[2] === owner.email);
    assert.ok(marta, 'the owner has a row with the e-mail');
    assert.deepEqual([marta[3], marta[4], marta[5]], [owner.city, '1', '1']);
    // One city: the owner's row alone.
    await orgPage.getByLabel('City (optional)').fill(owner.city);
    const [download] = await Promise.all([
      orgPage.waitForEvent('download'),
      orgPage.getByRole('button', { name: 'Download rankings.csv' }).click(),
    ]);
    const city = parseCsv(readFileSync(await download.path(), 'utf8'));
    assert.deepEqual(city.slice(1).map((r) => r[2]), [owner.email]);
  });

  step('closing the vote shows on the video page; reopening works', async () => {
    await orgPage.getByRole('link', { name: 'Competition' }).click();
    const form = orgPage.locator('#competition-form');
    await form.waitFor();
    const past = new Date(Date.now() - 3600_000);
    const pad = (n) => String(n).padStart(2, '0');
    await form.getByLabel('Voting closes at', { exact: true }).fill(`${past.getFullYear()}-${pad(past.getMonth() + 1)}-${pad(past.getDate())}T${pad(past.getHours())}:${pad(past.getMinutes())}`);
    await form.getByRole('button', { name: 'Save dates' }).click();
    await orgPage.getByRole('status').filter({ hasText: 'dates are saved' }).waitFor();
    const c = await call('GET', '/api/public/competition');
    assert.ok(c.voting_close_at && new Date(c.voting_close_at) < new Date(), `voting_close_at ${c.voting_close_at}`);
    await fanPage.goto(`/app/videos/${videoId}`);
    await fanPage.locator('#vote-button').filter({ hasText: 'Voting is closed' }).waitFor();
    await fanPage.locator('#video-dates').filter({ hasText: /Voting closed on/ }).waitFor();
    // The audit log lists what the organizer did, with the reasons.
    await orgPage.reload();
    const audit = orgPage.locator('#audit');
    await audit.locator('tr[data-action="hide-video"]').filter({ hasText: REASON }).waitFor();
    for (const action of ['restore-video', 'suspend-player', 'unsuspend-player', 'set-competition']) {
      assert.ok(await audit.locator(`tr[data-action="${action}"]`).count() >= 1, `${action} in the audit log`);
    }
    await shot(orgPage, 'organizer-competition', { doc: 'organizer-competition' });
    // Reopen: the Clear button empties the date.
    await form.getByRole('button', { name: 'Clear: Voting closes at' }).click();
    await form.getByRole('button', { name: 'Save dates' }).click();
    await orgPage.locator('[data-state="voting_close_at"]').filter({ hasText: /open/ }).waitFor();
    assert.equal((await call('GET', '/api/public/competition')).voting_close_at, null);
  });

  step('the organizer\'s pages fit a phone-sized screen', async () => {
    const session = await orgPage.evaluate(() => localStorage.getItem('skillreel.session'));
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, baseURL: BASE_URL, locale: 'en-US' });
    await ctx.addInitScript((s) => { if (!localStorage.getItem('skillreel.session')) localStorage.setItem('skillreel.session', s); }, session);
    const page = await ctx.newPage();
    watchErrors(page, errors);
    for (const [path, ready] of [['/app/admin', '#stats[data-loaded="true"]'], ['/app/admin/moderation', '#moderation'], ['/app/admin/competition', '#audit']]) {
      await page.goto(path);
      await page.locator(ready).waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} is ${overflow}px wider than the screen`);
    }
    await ctx.close();
  });

  step('no page logged an error', async () => {
    // Expected 4xx answers (the refused suspended account, the player on an organizer
    // page) are logged by Chromium as failed resources; ignore those.
    const unexpected = errors.filter((e) => !/status of (400|401|403|404|409|422)/.test(e));
    assert.deepEqual(unexpected, []);
  });
});
