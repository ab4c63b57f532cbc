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

  it('loads the vendored Chart.js as the dashboard does, and buckets hourly counts', async () => {
    const got = await page.evaluate(async () => {
      const { chartLib, hourlySeries, baseOptions } = await import('/app/assets/js/charts.js');
      const Chart = await chartLib();
      const canvas = document.createElement('canvas');
      canvas.width = 300;
      canvas.height = 150;
      document.body.append(canvas);
      const chart = new Chart(canvas, {
        type: 'bar',
        data: { labels: ['a', 'b'], datasets: [{ data: [1, 3], backgroundColor: '#ff0000' }] },
        options: { ...baseOptions(), responsive: false },
      });
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let red = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i] > 240 && data[i + 1] < 20 && data[i + 2] < 20 && data[i + 3] > 240) red += 1;
      chart.destroy();
      canvas.remove();
      const now = new Date('2026-12-02T10:40:00Z');
      const series = hourlySeries([
        { hour: '2026-12-02T10:00:00Z', count: 2 },
        { hour: '2026-12-02T08:00:00Z', count: 5 },
        { hour: '2026-11-20T08:00:00Z', count: 9 }, // outside the window
      ], 4, now);
      return { red, version: Chart.version, series: series.map((p) => [p.hour.toISOString(), p.count]) };
    });
    assert.match(got.version, /^4\./);
    assert.ok(got.red > 500, `only ${got.red} pixels of the bars drawn`);
    assert.deepEqual(got.series, [
      ['2026-12-02T07:00:00.000Z', 0],
      ['2026-12-02T08:00:00.000Z', 5],
      ['2026-12-02T09:00:00.000Z', 0],
      ['2026-12-02T10:00:00.000Z', 2],
    ]);
  });
});
