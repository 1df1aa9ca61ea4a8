#!/usr/bin/env node
// npm run test:seeds -- K [--seeds a,b,…] [--files name,…] [--skip REGEX] [--jobs J]
//
// Runs the randomized test files under K fresh seeds (or the given ones) and prints, per seed,
// the tests that failed, then the failing seeds; exits 1 if any seed failed. Every randomized
// test must pass for every seed, and one clock seed per `npm test` only samples that claim.
// A randomized file is any test/**/*.test.ts that calls the seed helper testSeed(), so files
// added later are picked up without editing a list. Each seed is one vitest process, because
// testSeed() reads FUSEDLOSS_TEST_SEED when the file loads. --skip leaves out tests whose full
// name matches REGEX, to spend a long sweep on the value checks rather than on tests whose
// outcome no seed can change (bit-identity across thread counts, worker and child-process
// plumbing); say so when reporting such a sweep.
'use strict';
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function usage(message) {
  if (message) console.error(`test:seeds: ${message}`);
  console.error('usage: npm run test:seeds -- K [--seeds a,b,...] [--files substring,...] [--skip REGEX] [--jobs J (seeds run at once, default 1)]');
  process.exit(2);
}

function parseArgs(argv) {
  const args = { count: undefined, seeds: undefined, files: undefined, jobs: 1, skip: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seeds' || a === '--files') {
      const value = argv[++i];
      if (value === undefined) usage(`${a} needs a value`);
      args[a.slice(2)] = value.split(',').filter((s) => s !== '');
    } else if (a === '--skip') {
      args.skip = argv[++i];
      if (!args.skip) usage('--skip needs a regular expression');
      new RegExp(args.skip); // a bad pattern fails here, before any run
    } else if (a === '--jobs') {
      args.jobs = Number(argv[++i]);
      if (!Number.isInteger(args.jobs) || args.jobs < 1) usage('--jobs needs a positive integer');
    } else if (/^\d+$/.test(a) && args.count === undefined) {
      args.count = Number(a);
    } else {
      usage(`unexpected argument ${a}`);
    }
  }
  if (args.seeds) {
    for (const s of args.seeds) if (!/^\d+$/.test(s) || Number(s) > 0xffffffff) usage(`seed ${s} is not an integer in [0, 2^32)`);
    args.seeds = args.seeds.map(Number);
  } else {
    if (args.count === undefined) usage('give K, the number of seeds');
    if (args.count < 1) usage('K must be at least 1');
    args.seeds = Array.from({ length: args.count }, () => crypto.randomInt(0, 2 ** 32));
  }
  return args;
}

/** test/**\/*.test.ts files that call testSeed(), relative to the root, sorted. */
function randomizedFiles(filters) {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.test.ts') && /\btestSeed\(/.test(fs.readFileSync(full, 'utf8'))) {
        found.push(path.relative(root, full).split(path.sep).join('/'));
      }
    }
  };
  walk(path.join(root, 'test'));
  found.sort();
  return filters ? found.filter((f) => filters.some((s) => f.includes(s))) : found;
}

/** Failed tests of one vitest run, from its JSON report: [{ file, test, message }]. */
function failuresOf(report, run) {
  if (!report) {
    const tail = run.output.trim().split('\n').slice(-15).join('\n');
    return [{ file: '(vitest)', test: `no report, exit ${run.status}`, message: tail }];
  }
  const failures = [];
  for (const file of report.testResults) {
    const name = path.relative(root, file.name).split(path.sep).join('/');
    const failed = file.assertionResults.filter((t) => t.status === 'failed');
    for (const t of failed) failures.push({ file: name, test: t.fullName, message: (t.failureMessages[0] ?? '').split('\n')[0] });
    // A file that fails outside any test (an import, a hook) has no failed assertion to show.
    if (file.status === 'failed' && failed.length === 0) failures.push({ file: name, test: '(file)', message: (file.message ?? '').split('\n')[0] });
  }
  // Errors outside any test fail the run too, except vitest's own worker-to-main messages timing
  // out on a starved machine ("Timeout calling onTaskUpdate"), which say nothing of the seed.
  const errors = unhandled(run.output).filter((e) => !/Timeout calling "/.test(e));
  for (const e of errors) failures.push({ file: '(vitest)', test: 'unhandled error', message: e });
  if (failures.length === 0 && run.status !== 0 && unhandled(run.output).length === 0) {
    failures.push({ file: '(vitest)', test: `exit ${run.status}`, message: run.output.trim().split('\n').slice(-5).join(' | ') });
  }
  return failures;
}

/** Process groups of the vitest runs in flight; ended with the sweep (Ctrl-C, kill). */
const running = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const pid of running) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.exit(130);
  });
}

/** One vitest run of `files` under `seed`; resolves with its exit status, output and JSON report. */
function runSeed(vitest, files, seed, out, skip) {
  // The JSON report names the failed tests; the default reporter's output (kept for a failing
  // seed) has the assertion diffs that the JSON report leaves out. No test timeout: a sweep runs
  // niced on a busy machine, and what it looks for is wrong answers, not slow ones.
  const reporters = ['--reporter=default', '--reporter=json', `--outputFile.json=${out}`];
  const filter = skip ? [`--testNamePattern=^(?!.*(?:${skip}))`] : [];
  // Its own process group, so that stopping the sweep also stops vitest's forked workers.
  const child = spawn(process.execPath, [vitest, 'run', ...reporters, ...filter, '--testTimeout=0', '--hookTimeout=0', ...files], {
    cwd: root,
    env: { ...process.env, FUSEDLOSS_TEST_SEED: String(seed), NO_COLOR: '1' },
    detached: true,
  });
  running.add(child.pid);
  child.on('close', () => running.delete(child.pid));
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve) => {
    child.on('close', (status) => {
      const report = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : undefined;
      resolve({ status, output, report });
    });
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const files = randomizedFiles(args.files);
  if (files.length === 0) usage('no randomized test files (none calls testSeed())');
  console.log(`test:seeds: ${args.seeds.length} seed(s) over ${files.length} randomized files, ${args.jobs} at a time: ${files.join(' ')}`);
  if (args.skip) console.log(`test:seeds: leaving out the tests whose name matches /${args.skip}/`);
  const vitest = require.resolve('vitest/vitest.mjs', { paths: [root] });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedloss-seeds-'));
  const failing = new Map(); // seed → failures
  let done = 0;
  const one = async (seed) => {
    const out = path.join(tmp, `${seed}.json`);
    const started = Date.now();
    const run = await runSeed(vitest, files, seed, out, args.skip);
    const failures = failuresOf(run.report, run);
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    const label = `[${++done}/${args.seeds.length}] seed ${seed}`;
    if (failures.length === 0) {
      const { numPassedTests, numPendingTests, numTodoTests } = run.report;
      // vitest exits 1 when a worker's progress message to the main process times out on a
      // starved machine ("Timeout calling onTaskUpdate") even though every test passed: that is
      // no failure of the seed, but it is said.
      const note = run.status === 0 ? '' : `; vitest exited ${run.status}: ${unhandled(run.output).join('; ')}`;
      console.log(`${label}: ${numPassedTests} passed, ${numPendingTests + numTodoTests} skipped (${seconds} s${note})`);
      fs.rmSync(out, { force: true });
      return;
    }
    failing.set(seed, failures);
    const log = path.join(tmp, `${seed}.log`);
    fs.writeFileSync(log, run.output);
    console.log(`${label}: ${failures.length} FAILED (${seconds} s; vitest output in ${log})`);
    for (const f of failures) console.log(`    ${f.file} > ${f.test}\n        ${f.message}`);
  };
  const queue = [...args.seeds];
  await Promise.all(Array.from({ length: Math.min(args.jobs, queue.length) }, async () => {
    while (queue.length > 0) await one(queue.shift());
  }));
  console.log('');
  if (failing.size === 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    console.log(`test:seeds: all ${args.seeds.length} seeds passed`);
    return;
  }
  console.log(`test:seeds: ${failing.size} of ${args.seeds.length} seeds failed (rerun one with FUSEDLOSS_TEST_SEED=<seed> npx vitest run <file>):`);
  for (const [seed, failures] of failing) {
    console.log(`  ${seed}: ${[...new Set(failures.map((f) => `${f.file} > ${f.test}`))].join('; ')}`);
  }
  process.exitCode = 1;
}

/** The first line of each error vitest reports outside the tests, once each. */
function unhandled(output) {
  const lines = output.split('\n');
  const errors = lines.filter((line, i) => i > 0 && /Unhandled (Error|Rejection)/.test(lines[i - 1]) && line.trim() !== '');
  return [...new Set(errors.map((line) => line.trim()))];
}

main();
