// Helpers of the browser tests: browser launch, clip generation, screenshots.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = join(here, '..');
export const OUTPUT_DIR = process.env.SKILLREEL_E2E_OUTPUT || join(E2E_DIR, 'output');
export const DOCS_SHOTS = join(E2E_DIR, '..', 'docs', 'screenshots');
export const BASE_URL = (process.env.SKILLREEL_BASE_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
}

/** The smallest test clip that still makes 3 parts of 5 MiB (the resumable tests need ≥ 2). */
export const CLIP_MIN_BYTES = 11 * 1024 * 1024;

/**
 * Generates a test clip once (1080p, 21 s, with audio, ~13 MB at 5 Mbit/s: 3 upload
 * parts) and returns its path. `pattern` is an ffmpeg test source, with or without
 * options of its own (`smptehdbars`, `color=c=0x16A34A`), so clips of different tests
 * get different posters.
 */
export function clip(name = 'clip', pattern = 'testsrc2') {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const path = join(OUTPUT_DIR, `${name}.mp4`);
  if (!existsSync(path) || statSync(path).size < CLIP_MIN_BYTES) {
    const source = `${pattern}${pattern.includes('=') ? ':' : '='}size=1920x1080:rate=15:duration=21`;
    execFileSync('ffmpeg', [
      '-y', '-loglevel', 'error',
      '-f', 'lavfi', '-i', source,
      '-f', 'lavfi', '-i', 'sine=duration=21',
      // Light sensor-like noise so the encoder really spends the bit rate.
      '-vf', 'noise=alls=10:allf=t', '-pix_fmt', 'yuv420p',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '5M', '-minrate', '5M', '-maxrate', '5M', '-bufsize', '5M',
      '-c:a', 'aac', '-shortest', path,
    ], { stdio: 'inherit' });
  }
  return path;
}

let counter = 0;

/**
 * Saves a screenshot to output/NN-name.png (git-ignored); with `doc` and
 * SKILLREEL_DOC_SCREENSHOTS=1, also to the tracked docs/screenshots/<doc>.png (only when
 * someone means to update the documentation's pictures: a test run changes no tracked file)
 * (viewport only, so the committed files stay small).
 */
export async function shot(page, name, { doc = null, fullPage = false } = {}) {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  counter += 1;
  const file = join(OUTPUT_DIR, `${String(counter).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage, animations: 'disabled', caret: 'hide' });
  if (doc && process.env.SKILLREEL_DOC_SCREENSHOTS === '1') {
    mkdirSync(DOCS_SHOTS, { recursive: true });
    copyFileSync(file, join(DOCS_SHOTS, `${doc}.png`));
  }
  return file;
}

/** Collects page errors and failed console messages so a test can assert there were none. */
export function watchErrors(page, sink) {
  page.on('pageerror', (err) => sink.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') sink.push(`console: ${msg.text()}`);
  });
}

/** Polls `fn` until it returns a truthy value, or throws after `timeout` ms. */
export async function eventually(fn, { timeout = 15000, interval = 500, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message} (last: ${last})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}
