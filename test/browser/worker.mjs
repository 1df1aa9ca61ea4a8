// A module worker of test/browser/page.mjs: the browser build where the guide suggests running
// large problems, imported by its path (a worker has no import map), every kernel on 'js'.
import * as fusedloss from '../../dist/browser/index.js';
import { runAll } from './cases.mjs';

runAll(fusedloss, 'js').then(
  (results) => postMessage({ results }),
  (error) => postMessage({ error: `${error?.stack ?? error}` }),
);
