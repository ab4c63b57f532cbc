// Front-end modules exercised in the browser on their own (no backend state needed).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BASE_URL, launch } from './lib.js';

let browser;
let page;

describe('front-end modules', () => {
  before(async () => {
    browser = await launch();
    page = await browser.newPage({ baseURL: BASE_URL });
    await page.goto('/app/rankings');
  });

  after(async () => {
    await browser?.close();
  });

  it('parses a text/event-stream cut at any byte, with comments and CRLF', async () => {
    const events = await page.evaluate(async () => {
      const { sseParser } = await import('/app/assets/js/live.js');
      const stream = ': keep-alive\r\n\r\nevent: status\r\ndata: {"id":7,"status":"processing","progress":0}\r\n\r\n'
        + 'event: progress\ndata: {"id":7,\ndata: "status":"processing","progress":45}\n\n'
        + ': ping\n\nid: 3\nevent: status\ndata: {"id":7,"status":"processed","progress":100}\n\n'
        + 'event: status\ndata: {"id":7,"status":"incomplete"}';
      const out = [];
      for (const size of [1, 3, 7, stream.length]) {
        const got = [];
        const feed = sseParser((e) => got.push(e));
        for (let i = 0; i < stream.length; i += size) feed(stream.slice(i, i + size));
        out.push(got);
      }
      return out;
    });
    for (const got of events) {
      assert.deepEqual(got.map((e) => e.event), ['status', 'progress', 'status']);
      assert.deepEqual(got.map((e) => JSON.parse(e.data).progress), [0, 45, 100]);
      assert.equal(got[2].id, '3');
    }
  });

  it('loads the vendored Uppy with the plugins the upload form uses', async () => {
    const names = await page.evaluate(async () => {
      const m = await import('/app/assets/vendor/uppy.min.js');
      const uppy = new m.Uppy({ id: 'probe' });
      uppy.use(m.AwsS3, {
        shouldUseMultipart: true,
        createMultipartUpload: () => ({}),
        signPart: () => ({}),
        listParts: () => [],
        completeMultipartUpload: () => ({}),
        abortMultipartUpload: () => {},
      });
      uppy.use(m.GoldenRetriever);
      const state = {
        resumable: uppy.getState().capabilities.resumableUploads,
        plugins: ['AwsS3Multipart', 'GoldenRetriever'].map((id) => Boolean(uppy.getPlugin(id))),
      };
      uppy.destroy();
      return state;
    });
    // The S3 multipart uploader announces pause/resume support.
    assert.equal(names.resumable, true);
    assert.deepEqual(names.plugins, [true, true]);
  });
});
