// Functions run in the page (`page.evaluate(fn, arg)`) on one <video id="joins">: load a
// video, seek and read a pixel block, play across a point. Playwright sends their source
// to the page, so they use nothing from this module's scope.

/** Puts a muted <video> of `src` in the page and waits for its metadata. */
export async function load(src) {
  const v = document.createElement('video');
  v.id = 'joins';
  v.muted = true;
  v.preload = 'auto';
  v.playsInline = true;
  window.joinErrors = [];
  v.addEventListener('error', () => window.joinErrors.push(`error event: ${v.error?.code} ${v.error?.message}`));
  // A frame drawn from another origin (S3) may only be read back under CORS.
  if (new URL(src, location.href).origin !== location.origin) v.crossOrigin = 'anonymous';
  v.src = src;
  document.body.prepend(v);
  await new Promise((resolve, reject) => {
    if (v.readyState >= 1) resolve();
    v.addEventListener('loadedmetadata', resolve, { once: true });
    v.addEventListener('error', () => reject(new Error(`the video did not load: ${v.error?.message}`)), { once: true });
  });
  return { duration: v.duration, width: v.videoWidth, height: v.videoHeight };
}

/** Seeks to `t`; returns where it landed and the mean colour of an 8x8 block at about
 * (100, 100) of 1280x720 (top left: away from the centred bumper logo and the clip's
 * bottom-right one). */
export async function seekAndSample(t) {
  const v = document.getElementById('joins');
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no seeked event for ${t} s`)), 15000);
    v.addEventListener('seeked', () => { clearTimeout(timer); resolve(); }, { once: true });
    v.currentTime = t;
  });
  const canvas = document.createElement('canvas');
  canvas.width = v.videoWidth;
  canvas.height = v.videoHeight;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(v, 0, 0);
  const x = Math.round(v.videoWidth * 0.08);
  const y = Math.round(v.videoHeight * 0.14);
  const { data } = ctx.getImageData(x, y, 8, 8);
  const rgb = [0, 0, 0];
  for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c += 1) rgb[c] += data[i + c];
  return { time: v.currentTime, rgb: rgb.map((sum) => Math.round(sum / 64)), errors: window.joinErrors.slice(), error: v.error?.message ?? null };
}

/** Plays from `from` until `until` (media time) or 10 s of wall time, watching from
 * `watch` on (past the start-up of playback, whose first frames may be late whatever the
 * video): how far it got, the frames dropped and shown meanwhile, and the longest a shown
 * frame stayed. */
export async function playAcross([from, watch, until]) {
  const v = document.getElementById('joins');
  await new Promise((resolve) => {
    v.addEventListener('seeked', resolve, { once: true });
    v.currentTime = from;
  });
  let before = null;
  const shown = [];
  let playing = true;
  const onFrame = (_now, meta) => {
    if (meta.mediaTime >= watch) {
      before ??= v.getVideoPlaybackQuality();
      shown.push(meta.mediaTime);
    }
    if (playing) v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
  await v.play();
  const deadline = performance.now() + 10000;
  while (v.currentTime < until && !v.ended && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  v.pause();
  playing = false;
  const after = v.getVideoPlaybackQuality();
  const times = shown.sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < times.length; i += 1) longest = Math.max(longest, times[i] - times[i - 1]);
  return {
    reached: v.currentTime,
    dropped: before ? after.droppedVideoFrames - before.droppedVideoFrames : null,
    presented: times.length,
    longest,
    errors: window.joinErrors.slice(),
    error: v.error?.message ?? null,
  };
}
