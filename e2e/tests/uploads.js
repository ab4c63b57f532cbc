// Watches and disturbs the resumable upload traffic of a page (Playwright routes): which
// part each PUT carries, how each attempt ended, and faults to inject (drop a part's
// first attempts, or hold parts until the page is reloaded).

const SIGN = /\/api\/videos\/uploads\/([^/?]+)\/parts\/(\d+)(?:\?|$)/;
const LIST = /\/api\/videos\/uploads\/([^/?]+)\/parts(?:\?|$)/;
const COMPLETE = /\/api\/videos\/uploads\/([^/?]+)\/complete(?:\?|$)/;

/**
 * Starts watching `page`. `fault(part, attempt)` decides each part PUT: 'pass',
 * 'abort' (the connection drops) or 'hold' (never answered: a stalled network).
 * Returns the record; `stop()` removes the route.
 */
export async function watchUploads(page, { fault = () => 'pass' } = {}) {
  const partOfUrl = new Map(); // absolute part URL -> part number
  const rec = {
    fault,
    attempts: {}, // part -> PUT attempts that reached the route
    puts: [], // {part, status} of every PUT that finished (status 0: failed)
    signed: 0,
    lists: 0,
    creates: 0,
    completes: [], // request bodies of POST .../complete
    classic: 0, // POST /api/videos/upload (must stay 0)
    held: [],
    stop: async () => {
      page.off('response', onResponse);
      page.off('requestfailed', onFailed);
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    },
  };
  // Recorded synchronously, in the order the browser saw them: a part's answer is
  // always recorded before the completion that follows it.
  const onResponse = (res) => {
    const req = res.request();
    if (req.method() === 'PUT' && partOfUrl.has(req.url())) rec.puts.push({ part: partOfUrl.get(req.url()), status: res.status() });
  };
  const onFailed = (req) => {
    if (req.method() === 'PUT' && partOfUrl.has(req.url())) rec.puts.push({ part: partOfUrl.get(req.url()), status: 0 });
  };
  page.on('response', onResponse);
  page.on('requestfailed', onFailed);

  await page.route('**/*', async (route) => {
    const req = route.request();
    const url = req.url();
    const method = req.method();
    if (method === 'GET' && SIGN.test(url)) {
      // Read the answer before the page does, so the PUT that follows is recognised.
      const res = await route.fetch();
      if (res.ok()) {
        const body = await res.json();
        partOfUrl.set(new URL(body.url, url).href, Number(url.match(SIGN)[2]));
        rec.signed += 1;
      }
      await route.fulfill({ response: res });
      return;
    }
    if (method === 'PUT' && partOfUrl.has(url)) {
      const part = partOfUrl.get(url);
      rec.attempts[part] = (rec.attempts[part] || 0) + 1;
      const decision = rec.fault(part, rec.attempts[part]);
      if (decision === 'abort') { await route.abort('connectionreset'); return; }
      if (decision === 'hold') { rec.held.push(route); return; }
    }
    if (method === 'GET' && LIST.test(url)) rec.lists += 1;
    if (method === 'POST' && /\/api\/videos\/uploads(?:\?|$)/.test(url)) rec.creates += 1;
    if (method === 'POST' && COMPLETE.test(url)) rec.completes.push(req.postDataJSON());
    if (method === 'POST' && /\/api\/videos\/upload(?:\?|$)/.test(url)) rec.classic += 1;
    await route.fallback();
  });
  return rec;
}

/** Part numbers whose PUT succeeded. */
export function storedParts(rec) {
  return [...new Set(rec.puts.filter((p) => p.status >= 200 && p.status < 300).map((p) => p.part))].sort((a, b) => a - b);
}
