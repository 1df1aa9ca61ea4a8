// A module worker of test/browser/page.mjs: the browser build where the guide suggests running
// large problems, imported by its path (a worker has no import map), every kernel on 'js' and,
// where the page has it, 'wasm'.
import * as fusedloss from '../../dist/browser/index.js';
import { runAll } from './cases.mjs';

async function runEach() {
  const results = { js: await runAll(fusedloss, 'js') };
  if (fusedloss.backendInfo().wasm?.available) results.wasm = await runAll(fusedloss, 'wasm');
  return results;
}

runEach().then(
  (results) => postMessage({ results }),
  (error) => postMessage({ error: `${error?.stack ?? error}` }),
);
