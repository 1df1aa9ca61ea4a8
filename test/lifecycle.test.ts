// Ending a JavaScript environment while fusedloss calls are in flight: worker.terminate() and a
// worker's own process.exit() at varied delays after its first call, for every async entry
// point on every backend, with a bystander worker whose results must not change, and
// process.exit() on the main thread mid-call.  Each scenario runs in a child process
// (test/lifecycle-child.cjs, which loads the built package from dist/, so it needs
// `node scripts/build-ts.js`): an abort then shows as the child's exit status and stderr
// ("terminate called after throwing an instance of 'Napi::Error'", status 134, before the fix)
// instead of killing the test runner.  The children inherit the environment, so under
// `npm run test:sanitize` they run the ASan/UBSan build and their reports fail these tests.
import { execFile } from 'node:child_process';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { backendCases } from './helpers';

const CHILD = path.join(__dirname, 'lifecycle-child.cjs');
const ENTRIES = 'crps,marginSoftmax,mine,pairLoss';
const BACKENDS = backendCases();

// From "before the first kernel starts" to "after a few calls finished" (one call takes a few
// ms); each worker keeps two async calls and a sync loop going, so every delay lands on some
// call in some phase: being prepared, queued, running on the pool, completing.
const DELAYS: Record<string, number[]> = { js: [2], cpu: [0, 3, 12], wasm: [0, 3, 12], cuda: [0, 3, 12] };

// Guards, not timings: a child normally takes seconds, but several times longer under
// `npm run test:sanitize` on a busy 2-core machine.
const CHILD_TIMEOUT_MS = 240_000;
const TEST_TIMEOUT_MS = 2 * CHILD_TIMEOUT_MS + 10_000;

interface ChildRun {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function runChild(args: (string | number)[]): Promise<ChildRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CHILD, ...args.map(String)], { timeout: CHILD_TIMEOUT_MS, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: unknown; signal?: string | null }) | null;
      resolve({ status: failure ? (typeof failure.code === 'number' ? failure.code : null) : 0, signal: failure?.signal ?? null, stdout, stderr });
    });
  });
}

function describeRun(run: ChildRun): string {
  return `status ${run.status} signal ${run.signal}\n--- stdout\n${run.stdout.slice(-2000)}\n--- stderr\n${run.stderr.slice(-4000)}`;
}

/** The child ended with `status`, and nothing on stderr: no abort message, no sanitizer report. */
function expectClean(run: ChildRun, status: number): void {
  expect(run.status, describeRun(run)).toBe(status);
  expect(run.signal, describeRun(run)).toBeNull();
  expect(run.stderr, describeRun(run)).toBe('');
}

function lastJson(run: ChildRun): Record<string, unknown> {
  const lines = run.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

describe.each(BACKENDS.map((b) => [b.name, b] as const))('backend %s', (name, backend) => {
  const delays = DELAYS[name];

  it.skipIf(!backend.available)(`every async entry point: workers ended at ${delays.join(', ')} ms after their first call`, async () => {
    const run = await runChild(['workers', name, ENTRIES, delays.join(',')]);
    expectClean(run, 0);
    const entries = ENTRIES.split(',').length;
    // Per entry point: one terminate and one process.exit per delay, two more terminations
    // beside the checked bystander.
    expect(lastJson(run)).toMatchObject({ terminations: entries * (delays.length + 2), selfExits: entries * delays.length, delays });
    expect(lastJson(run).checkedResults).toBeGreaterThanOrEqual(entries);
  }, TEST_TIMEOUT_MS);

  it.skipIf(!backend.available)('process.exit(42) on the main thread with calls of every entry point in flight exits with 42', async () => {
    for (const delay of [0, 15]) {
      const run = await runChild(['exit', name, ENTRIES, delay, 42]);
      expectClean(run, 42);
      expect(lastJson(run)).toMatchObject({ exitedWith: 42 });
    }
  }, TEST_TIMEOUT_MS);
});
