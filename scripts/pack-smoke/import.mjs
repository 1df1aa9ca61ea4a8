// ES module consumer: node import.mjs (in the consumer project).
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import * as api from 'fusedloss';
import { crps, marginSoftmax, mine, pairLoss, backendInfo } from 'fusedloss';

const require = createRequire(import.meta.url);
// Named imports work, and import and require give the same functions (one copy of the state).
assert.equal(api.crps, crps);
for (const [name, fn] of Object.entries({ crps, marginSoftmax, mine, pairLoss, backendInfo })) {
  assert.equal(typeof fn, 'function', name);
  assert.equal(fn, require('fusedloss')[name], `${name}: import and require differ`);
}
require('./kernels.cjs')(api, 'import');
