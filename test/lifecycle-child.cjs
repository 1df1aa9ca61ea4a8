// Child process of test/lifecycle.test.ts: ends JavaScript environments while fusedloss calls
// are in flight, so that an abort (exit 134, "terminate called ...") shows up as this process's
// exit status instead of killing vitest.  Loads the built package (dist/) from the repository
// root.  Usage:
//   node test/lifecycle-child.cjs workers <backend> <entries> <delays ms>
//       for each entry point and delay: one worker_thread that the parent terminates `delay` ms
//       after the worker's first call started, and one that ends itself with process.exit(3)
//       after `delay` ms (its exit code is checked); each keeps two async calls and a sync loop
//       going.  Only workers load the addon, so it is unloaded whenever the last one ends.  Then
//       a worker whose results are checked against a synchronous reference keeps running while
//       two more workers are terminated mid-call.
//   node test/lifecycle-child.cjs exit <backend> <entries> <delay ms> <exit code>
//       the main thread keeps calls of every entry point going (and a worker those of the
//       first), then process.exit(code) after `delay` ms
// Prints progress lines and then one JSON line of counts; anything unexpected exits with 1.
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const WORKER_EXIT_CODE = 3;

/** Deterministic inputs for each entry point, sized so that one call takes a few ms. */
function makeArgs(entry, backend) {
  let state = 12345;
  const floats = (n) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; ++i) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      out[i] = state / 4294967296 - 0.5;
    }
    return out;
  };
  const labels = (n, classes) => Int32Array.from({ length: n }, (_, i) => (i * 7919) % classes);
  // The js backend is slower: smaller problems keep its calls to a few ms too.
  const small = backend === 'js';
  switch (entry) {
    case 'crps': {
      const [P, M] = small ? [256, 51] : [16384, 51];
      return { ensemble: { data: floats(P * M), shape: [P, M] }, observations: floats(P), gradients: true, estimator: 'fair', backend };
    }
    case 'marginSoftmax': {
      const [N, D, C] = small ? [16, 32, 64] : [128, 64, 2048];
      return { embeddings: { data: floats(N * D), shape: [N, D] }, weights: { data: floats(C * D), shape: [C, D] }, labels: labels(N, C), margin: { type: 'arcface', m: 0.5 }, scale: 64, backend };
    }
    case 'mine':
    case 'pairLoss': {
      const [N, M, D] = small ? [32, 128, 16] : [128, 2048, 32];
      const common = { embeddings: { data: floats(N * D), shape: [N, D] }, labels: labels(N, 10), ref: { data: floats(M * D), shape: [M, D] }, refLabels: labels(M, 10), backend };
      return entry === 'mine' ? { ...common, miner: { type: 'multi-similarity', epsilon: 0.1 } } : { ...common, loss: { type: 'multi-similarity' } };
    }
    default:
      throw new Error(`unknown entry point ${entry}`);
  }
}

/** Every field of a result as text (typed arrays by their bytes), for exact comparison. */
function fingerprint(result) {
  const parts = [];
  for (const key of Object.keys(result).sort()) {
    const value = result[key];
    if (ArrayBuffer.isView(value)) parts.push(key, Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'));
    else parts.push(key, String(value));
  }
  return parts.join('|');
}

// In a worker: loops the entry point until the worker ends; posts 'started' once the first
// calls are queued.  `check`: two async loops whose every result is compared with a sync
// reference ('ok' / 'wrong' per result).  Otherwise two async loops plus a sync loop (the end
// may come while the JavaScript thread is inside the synchronous form too).
async function workerLoop() {
  const api = require(ROOT);
  const { entry, backend, check, exitAfter } = workerData;
  const args = makeArgs(entry, backend);
  const asyncFn = api[`${entry}Async`];
  const reference = check ? fingerprint(api[entry](args)) : null;
  if (exitAfter !== undefined) setTimeout(() => process.exit(WORKER_EXIT_CODE), exitAfter);
  const asyncLoop = async () => {
    for (;;) {
      const result = await asyncFn(args);
      if (check) parentPort.postMessage(fingerprint(result) === reference ? 'ok' : 'wrong');
    }
  };
  const syncLoop = async () => {
    for (;;) {
      api[entry](args);
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const loops = [asyncLoop(), asyncLoop()];
  if (!check) loops.push(syncLoop());
  parentPort.postMessage('started');
  await Promise.all(loops);
}

function waitFor(worker, message) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m === message) {
        worker.off('message', onMessage);
        resolve();
      }
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before '${message}'`)));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One worker ended `delay` ms after its first call: by worker.terminate() or its own process.exit().
async function endWorker(entry, backend, delay, selfExit) {
  const worker = new Worker(__filename, { workerData: { entry, backend, check: false, exitAfter: selfExit ? delay : undefined } });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  await waitFor(worker, 'started');
  if (!selfExit) {
    await sleep(delay);
    await worker.terminate();
  }
  const code = await exited;
  if (selfExit && code !== WORKER_EXIT_CODE) throw new Error(`${entry}: the worker's process.exit(${WORKER_EXIT_CODE}) after ${delay} ms ended it with ${code}`);
  // Progress, so that an abort shows how far the loop got.
  console.log(`${selfExit ? 'process.exit' : 'terminate'}: ${entry} (${backend}) ${delay} ms after its first call`);
}

async function workers(backend, entries, delays) {
  const counts = { terminations: 0, selfExits: 0, checkedResults: 0, delays };
  for (const entry of entries) {
    for (const delay of delays) {
      await endWorker(entry, backend, delay, false);
      counts.terminations += 1;
      await endWorker(entry, backend, delay, true);
      counts.selfExits += 1;
    }
    // A bystander: its results must not change while other workers end mid-call.
    const steady = new Worker(__filename, { workerData: { entry, backend, check: true } });
    let ok = 0;
    steady.on('message', (m) => {
      if (m === 'wrong') {
        console.error(`${entry} (${backend}): a result changed while another worker ended`);
        process.exit(1);
      }
      if (m === 'ok') ok += 1;
    });
    await waitFor(steady, 'started');
    for (const delay of [delays[1], delays[delays.length - 1]]) {
      await endWorker(entry, backend, delay, false);
      counts.terminations += 1;
    }
    const before = ok;
    while (ok === before) await sleep(2);  // at least one result after the last termination
    counts.checkedResults += ok;
    await steady.terminate();
  }
  return counts;
}

async function exitMidCall(backend, entries, delay, code) {
  // A worker with calls in flight too: the exit stops it first.
  const worker = new Worker(__filename, { workerData: { entry: entries[0], backend, check: false } });
  await waitFor(worker, 'started');
  const api = require(ROOT);
  let settled = 0;
  for (const entry of entries) {
    const args = makeArgs(entry, backend);
    const asyncFn = api[`${entry}Async`];
    void (async () => {
      for (;;) {
        await asyncFn(args);
        settled += 1;
      }
    })();
  }
  setTimeout(() => {
    console.log(JSON.stringify({ exitedWith: code, settledBeforeExit: settled }));
    process.exit(code);
  }, delay);
}

async function main() {
  const [mode, backend, entryText, delayText, codeText] = process.argv.slice(2);
  const entries = entryText.split(',');
  const delays = delayText.split(',').map(Number);
  if (mode === 'workers') console.log(JSON.stringify(await workers(backend, entries, delays)));
  else if (mode === 'exit') await exitMidCall(backend, entries, delays[0], Number(codeText));
  else throw new Error(`unknown mode ${mode}`);
}

if (isMainThread) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  void workerLoop();
}
