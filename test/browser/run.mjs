#!/usr/bin/env node
// npm run test:browser: the browser build (dist/browser, the "browser" condition of package.json's
// exports) in headless Chromium.  Serves the package folder on 127.0.0.1, opens
// test/browser/page.html (which imports the build through an import map, with TensorFlow.js from
// node_modules) and checks what the page reports:
//   - crps, marginSoftmax, mine and pairLoss, sync and async, on every backend the page offers
//     ('js'; 'wasm' where backendInfo().wasm says it is available) and on 'auto', agree with the
//     same calls in Node.js on 'cpu' (the native addon) and 'js' within the documented tolerances
//     (test/browser/cases.mjs), and 'js' with Node.js's 'js' bit for bit, in a module worker too;
//   - 'cpu' and 'cuda' are refused with ERR_FUSEDLOSS_BACKEND, saying why; backendInfo() has no
//     addon, says why, and has package.json's version;
//   - one training step through each loss of fusedloss/tfjs lowers it;
//   - the page requested nothing but files of this package (so no node: module), every request
//     succeeded, and it logged no error and threw none;
//   - all of it twice: on a plain page, where the WebAssembly backend is single-threaded, and on a
//     cross-origin isolated one (COOP/COEP headers: SharedArrayBuffer), where it runs on threads
//     (backendInfo().wasm.threads > 1 once its workers are up) with the same bits.
// Chromium: CHROMIUM_PATH, else /usr/bin/chromium (Debian's `chromium` package); nothing is downloaded.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import puppeteer from 'puppeteer-core';

import { compare, runAll } from './cases.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const started = Date.now();
const problems = [];
const figures = {};
let requestCount = 0;

for (const file of ['dist/browser/index.js', 'dist/cjs/index.js']) {
  if (!fs.existsSync(path.join(root, file))) throw new Error(`${file} is missing: run npm run build first`);
}
if (!fs.existsSync(chromium)) throw new Error(`no Chromium at ${chromium} (apt-get install chromium, or set CHROMIUM_PATH)`);

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.map': 'application/json', '.wasm': 'application/wasm' };

// What makes a page cross-origin isolated (and so gives it SharedArrayBuffer).
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** A static server for the package folder (the page, the build, node_modules), on a free port. */
function serve(isolated) {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://localhost');
    const file = path.join(root, decodeURIComponent(url.pathname));
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', ...(isolated ? ISOLATION : {}) });
    fs.createReadStream(file).pipe(response);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

for (const isolated of [false, true]) await session(isolated);

figures.seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log('largest relative differences and figures:', figures);
if (problems.length > 0) {
  console.error(`test:browser FAILED (${problems.length}):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`test:browser passed, plain and cross-origin isolated: ${requestCount} requests`);

/** The page on a plain or a cross-origin isolated origin; what it reports is checked into `problems` and `figures`. */
async function session(isolated) {
  const server = await serve(isolated);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedloss-chromium-'));
  const problemsBefore = problems.length;
  const tag = isolated ? 'isolated' : 'plain';
  let browser;
  let page;
  let outcome;
  const requested = [];
  try {
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      userDataDir: profile,
      // The machine has no network: without these Chromium's background services fail its start.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warn') problems.push(`page console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('request', (request) => requested.push(request.url()));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}: ${request.failure()?.errorText}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
    });
    await page.goto(`${origin}/test/browser/page.html`);
    // Until the page reports, or fails to load (a module that does not resolve never runs main()).
    const deadline = Date.now() + 60000;
    let report;
    while (!(report = await page.evaluate(() => window.fusedlossTest)) && problems.length === problemsBefore && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (!report) problems.push(problems.length > problemsBefore ? 'the page stopped' : 'the page did not report within 60 s');
    else if (report.error) problems.push(`the page failed: ${report.error}`);
    outcome = report?.outcome;
  } finally {
    await browser?.close();
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }

  for (const url of requested) {
    // blob: URLs of this origin are the WebAssembly backend's worker (lib/wasm/worker-host.browser.ts).
    if (url.startsWith(`blob:${origin}/`)) continue;
    if (!url.startsWith(`${origin}/`)) problems.push(`the page requested ${url}, not a file of this package`);
  }
  const modules = requested.filter((url) => url.startsWith(`${origin}/dist/`));
  if (!modules.some((url) => url.endsWith('/dist/browser/tfjs.js'))) problems.push('the page did not load dist/browser/tfjs.js');
  if (modules.some((url) => !url.startsWith(`${origin}/dist/browser/`))) problems.push(`the page loaded modules outside dist/browser: ${modules.join(', ')}`);

  requestCount += requested.length;
  if (outcome) {
    // Threads: where the page has SharedArrayBuffer (and only there), the threaded module, up.
    const threads = outcome.info.wasm?.available ? outcome.wasmThreads : null;
    figures[`${tag}: crossOriginIsolated, wasm threads`] = `${outcome.isolated}, ${threads}`;
    if (outcome.isolated !== isolated) problems.push(`${tag} page: crossOriginIsolated is ${outcome.isolated}`);
    if (threads !== null && (isolated ? !(threads > 1) : threads !== 1)) problems.push(`${tag} page: backendInfo().wasm.threads ${threads}`);
    const require = createRequire(import.meta.url);
    const node = require(root);
    const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    const { info, backends, results, refused, tfjs } = outcome;

    // backendInfo() in the page.
    if (info.native !== false || !/browser/.test(info.loadError ?? '')) problems.push(`backendInfo(): native ${info.native}, loadError ${info.loadError}`);
    if (info.cuda.available !== false) problems.push('backendInfo().cuda.available is not false');
    if (info.version !== version) problems.push(`backendInfo().version ${info.version}, package.json ${version}`);

    // The same calls in Node.js: native CPU (when the addon is built here) and TypeScript.
    const nodeBackends = ['js', ...(node.backendInfo().native ? ['cpu'] : []), ...(node.backendInfo().wasm.available ? ['wasm'] : [])];
    // CI builds the WebAssembly kernels: there the page must have them too.
    if (process.env.FUSEDLOSS_REQUIRE_WASM === '1' && !backends.includes('wasm')) problems.push(`FUSEDLOSS_REQUIRE_WASM=1 but the page has no backend 'wasm': ${info.wasm?.reason}`);
    if (!nodeBackends.includes('cpu')) console.log(`note: no native addon in Node.js here (${node.backendInfo().loadError}); comparing with 'js' only`);
    const nodeResults = {};
    for (const backend of nodeBackends) nodeResults[backend] = await runAll(node, backend);

    // The comparison itself: it must flag a result that is off by more than a tolerance.
    const base = nodeResults.js;
    for (const [call, field, change] of [
      ['crps sync', 'scores', (v) => v * (1 + 2 ** -19)],
      ['marginSoftmax async', 'gradWeights', (v) => v + 1e-2],
      ['mine sync', 'negatives', (v) => v + 1],
      ['pairLoss async', 'loss', (v) => v * (1 + 1e-4)],
    ]) {
      const changed = JSON.parse(JSON.stringify(base));
      const target = changed[call][field];
      if (Array.isArray(target)) target[0] = change(target[0]);
      else changed[call][field] = change(target);
      if (compare(changed, base, 'self-check').problems.length !== 1) problems.push(`the comparison does not flag a change of ${call} ${field}`);
    }
    if (compare(base, base, 'self-check').problems.length !== 0) problems.push('the comparison flags identical results');
    const lastBit = JSON.parse(JSON.stringify(base));
    lastBit['crps async'].gradEnsemble[0] = Math.fround(lastBit['crps async'].gradEnsemble[0] * (1 + 2 ** -23));
    if (compare(lastBit, base, 'self-check', { exact: true }).problems.length !== 1) problems.push('the exact comparison does not flag one changed bit');

    for (const backend of [...backends, 'auto']) {
      for (const [call, result] of Object.entries(results[backend])) {
        // 'auto' in the browser: 'js', or the WebAssembly backend where the page has it.
        const expected = backend === 'auto' ? backends[backends.length - 1] : backend;
        if (result.backend !== expected) problems.push(`browser ${backend} ${call}: ran on ${result.backend}, expected ${expected}`);
      }
      for (const nodeBackend of nodeBackends) {
        // The TypeScript backend is the same code on both, and so is the WebAssembly module: the same
        // bits (docs/spec/README.md, Backends).
        const ranOn = backend === 'auto' ? backends[backends.length - 1] : backend;
        const exact = ranOn === nodeBackend && (ranOn === 'js' || ranOn === 'wasm');
        const { problems: found, largest } = compare(results[backend], nodeResults[nodeBackend], `browser ${backend} vs node ${nodeBackend}:`, { exact });
        problems.push(...found);
        figures[`${tag}: browser ${backend} vs node ${nodeBackend}`] = Math.max(...Object.values(largest));
      }
    }

    // The worker: the same bits as Node.js on each backend.
    for (const [backend, workerResults] of Object.entries(outcome.worker)) {
      if (!nodeResults[backend]) continue;
      const { problems: inWorker } = compare(workerResults, nodeResults[backend], `worker ${backend} vs node ${backend}:`, { exact: true });
      problems.push(...inWorker);
    }
    if (!outcome.worker.js || (backends.includes('wasm') && !outcome.worker.wasm)) problems.push(`the worker ran ${Object.keys(outcome.worker)}, not ${backends}`);

    // 'cpu' and 'cuda': refused, with the reason.
    for (const [backend, calls] of Object.entries(refused)) {
      for (const [call, error] of Object.entries(calls)) {
        if (!error || error.code !== 'ERR_FUSEDLOSS_BACKEND' || !error.message.includes('browser')) {
          problems.push(`browser backend '${backend}' ${call}: expected ERR_FUSEDLOSS_BACKEND saying why, got ${JSON.stringify(error)}`);
        }
      }
    }

    // The training steps.
    for (const [loss, { before, after }] of Object.entries(tfjs.steps)) {
      if (!(after < before)) problems.push(`tfjs ${loss}: the loss did not go down (${before} → ${after})`);
      figures[`${tag}: tfjs ${loss}`] = `${before.toFixed(4)} → ${after.toFixed(4)}`;
    }
    if (Object.keys(tfjs.steps).length !== 3) problems.push(`tfjs: ${Object.keys(tfjs.steps).length} of the 3 losses ran`);
    if (tfjs.backends.length === 0 || tfjs.backends.some((backend) => !backends.includes(backend))) problems.push(`tfjs: the kernels ran on ${tfjs.backends}`);
    figures[`${tag}: tfjs`] = `fusedloss '${tfjs.backends.join("', '")}', tfjs '${tfjs.tfBackend}'`;
    figures[`${tag}: backends`] = backends.join(', ');
    const mined = results.js['mine sync'];
    figures[`${tag}: mined`] = `${mined.positives.length} positive and ${mined.negatives.length} negative pairs`;
    if (mined.positives.length === 0 || mined.negatives.length === 0) problems.push('mine found no pairs of one kind: the case checks nothing');
  }

  for (let k = problemsBefore; k < problems.length; k++) problems[k] = `${tag} page: ${problems[k]}`;
}
