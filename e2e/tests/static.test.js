// How the service serves the front end's files (no browser needed).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BASE_URL } from './lib.js';

describe('front-end assets', () => {
  it('serves the page at /app, /app/ and any client-side route, with a CSP', async () => {
    for (const path of ['/app', '/app/', '/app/rankings', '/app/videos/123', '/app/my', '/app/admin/moderation']) {
      const res = await fetch(BASE_URL + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type'), /^text\/html/, path);
      assert.match(res.headers.get('content-security-policy') || '', /default-src 'self'/, path);
      assert.match(await res.text(), /<main id="main"/, path);
    }
  });

  it('serves assets with their content type and revalidates with ETag', async () => {
    const expected = {
      '/app/assets/app.css': /^text\/css/,
      '/app/assets/js/main.js': /^text\/javascript/,
      '/app/assets/js/pages/myvideos.js': /^text\/javascript/,
      '/app/assets/favicon.svg': /^image\/svg\+xml/,
      '/app/assets/js/upload.js': /^text\/javascript/,
      '/app/assets/js/live.js': /^text\/javascript/,
      '/app/assets/vendor/uppy.min.js': /^text\/javascript/,
      '/app/assets/vendor/uppy.LICENSES.txt': /^text\/plain/,
      '/app/assets/js/pages/admin/dashboard.js': /^text\/javascript/,
      '/app/assets/vendor/chart.umd.js': /^text\/javascript/,
      '/app/assets/vendor/chart.LICENSES.txt': /^text\/plain/,
    };
    for (const [path, type] of Object.entries(expected)) {
      const res = await fetch(BASE_URL + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type'), type, path);
      assert.equal(res.headers.get('cache-control'), 'no-cache', path);
      const etag = res.headers.get('etag');
      assert.ok(etag, `${path} has an ETag`);
      const again = await fetch(BASE_URL + path, { headers: { 'If-None-Match': etag } });
      assert.equal(again.status, 304, path);
    }
  });

  it('serves the vendored Uppy and Chart.js bundles with the licences of what they contain', async () => {
    const js = await (await fetch(`${BASE_URL}/app/assets/vendor/uppy.min.js`)).text();
    assert.match(js, /export\s*\{/, 'an ES module');
    const licences = await (await fetch(`${BASE_URL}/app/assets/vendor/uppy.LICENSES.txt`)).text();
    for (const name of ['@uppy/core', '@uppy/aws-s3', '@uppy/golden-retriever']) {
      assert.match(licences, new RegExp(`${name}@\\d+\\.\\d+\\.\\d+ \\(MIT\\)`), name);
    }
    const chartLicences = await (await fetch(`${BASE_URL}/app/assets/vendor/chart.LICENSES.txt`)).text();
    for (const name of ['chart.js', '@kurkle/color']) {
      assert.match(chartLicences, new RegExp(`${name.replace('.', '\\.')}@\\d+\\.\\d+\\.\\d+ \\(MIT\\)`), name);
    }
    // Nothing is fetched from a CDN: the page's scripts load from this origin only.
    const page = await fetch(`${BASE_URL}/app/`);
    assert.doesNotMatch(page.headers.get('content-security-policy'), /script-src[^;]*(https?:|\*)/);
  });

  it('answers 404, not the page, for a missing asset', async () => {
    const res = await fetch(`${BASE_URL}/app/assets/js/nope.js`);
    assert.equal(res.status, 404);
    assert.doesNotMatch(res.headers.get('content-type') || '', /html/);
  });

  it('serves the interactive API page and the document it reads', async () => {
    const page = await fetch(`${BASE_URL}/docs`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /openapi\.json/);
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href="https?:/, 'nothing loaded from elsewhere');
    const doc = await fetch(`${BASE_URL}/openapi.json`);
    assert.equal(doc.status, 200);
    assert.ok(Object.keys((await doc.json()).paths).length >= 10);
  });
});
