// Bundles entry.js into one minified ES module and writes the licences of everything
// that went into it. Run by scripts/vendor-uppy.sh after `npm ci` here.
import { build } from 'esbuild';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) throw new Error('usage: node build.mjs <output directory>');

const result = await build({
  entryPoints: [join(here, 'entry.js')],
  outfile: join(out, 'uppy.min.js'),
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['es2020'],
  platform: 'browser',
  // The licences go to a separate file (below), so the bundle stays small.
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

// Every npm package with at least one byte in the bundle, with its licence text.
const packages = new Map();
for (const [input, info] of Object.entries(result.metafile.outputs[relative(process.cwd(), join(out, 'uppy.min.js'))]?.inputs ?? {})) {
  if (info.bytesInOutput === 0) continue;
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) packages.set(m[1], join(here, 'node_modules', m[1]));
}
if (packages.size === 0) throw new Error('no package found in the bundle metafile');

const sections = [...packages.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, dir]) => {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const text = file ? readFileSync(join(dir, file), 'utf8').trim() : `License: ${pkg.license} (no licence file in the package)`;
  return `${name}@${pkg.version} (${pkg.license})\n${'-'.repeat(60)}\n${text}\n`;
});
writeFileSync(join(out, 'uppy.LICENSES.txt'),
  `Third-party code in uppy.min.js (bundled by scripts/vendor-uppy.sh)\n\n${sections.join('\n')}`);
console.log(`bundled ${packages.size} packages: ${[...packages.keys()].join(', ')}`);
