// Builds the dashboard into static files: node build.mjs OUTDIR
// app-<hash>.js and app-<hash>.css (content-hashed, cached for a year by the server) and
// index.html (never cached) naming them. Everything comes from node_modules: no network, no CDN.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, 'dist'));
mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) if (/^app-.*\.(js|css|map)$/.test(f)) rmSync(join(out, f));

const result = await esbuild.build({
  entryPoints: [join(here, 'src', 'app.js')],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: ['chrome100', 'firefox100', 'safari15'],
  entryNames: '[name]-[hash]',
  outdir: out,
  metafile: true,
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => p.split('/').pop());
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`esbuild produced no js/css: ${outputs.join(', ')}`);
const html = readFileSync(join(here, 'src', 'index.html'), 'utf8').replace('%JS%', js).replace('%CSS%', css);
writeFileSync(join(out, 'index.html'), html);
console.log(`web: ${out}: index.html ${js} ${css}`);
