#!/usr/bin/env node
// node scripts/check-tlsdesc.cjs <aarch64 .node file>...: fails when the binary reads the condition
// flags right after a TLS-descriptor call, i.e. uses flags set before the call.
//
// A thread_local in a shared library is reached through a TLS-descriptor call (adrp x0 / ldr x1 /
// add x0 / blr x1), which glibc's resolver lets clobber NZCV and Clang before LLVM 17 assumed kept
// them (why and what it broke: runtime/memory.cc, threadScratch).
// After each descriptor call this walks forward to the first instruction that reads the flags
// (b.<cond>, csel and kin, ccmp, adc…) and fails if no instruction set them, and no branch, call
// or return intervened.  Needs the cross binutils (aarch64-linux-gnu-objdump).
'use strict';
const { spawnSync } = require('node:child_process');

const setsFlags = /^(cmp|cmn|tst|subs|adds|ands|bics|negs|ngcs|adcs|sbcs|fcmp|fcmpe|ccmp|ccmn|fccmp|fccmpe|setf8|setf16|rmif|msr)$/;
const readsFlags = /^(b\.\w+|csel|csinc|csinv|csneg|cset|csetm|cinc|cinv|cneg|fcsel|ccmp|ccmn|fccmp|fccmpe|adc|adcs|sbc|sbcs|ngc|ngcs|mrs)$/;
const endsBlock = /^(b|bl|blr|br|ret|cbz|cbnz|tbz|tbnz)$/;

function hazards(file) {
  const dump = spawnSync('aarch64-linux-gnu-objdump', ['-d', '--no-show-raw-insn', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (dump.status !== 0) throw new Error(`aarch64-linux-gnu-objdump -d ${file} failed: ${dump.stderr}`);
  const code = [];
  for (const line of dump.stdout.split('\n')) {
    const m = /^\s+([0-9a-f]+):\t(\S+)\s*([^/<]*)/.exec(line);
    if (m) code.push({ address: m[1], op: m[2], args: m[3].trim() });
  }
  const found = [];
  let calls = 0;
  for (let i = 3; i < code.length; i++) {
    const isDescriptorCall = code[i].op === 'blr' && code[i].args === 'x1' && code[i - 3].op === 'adrp' &&
      code[i - 3].args.startsWith('x0,') && code[i - 2].op === 'ldr' && code[i - 2].args.startsWith('x1, [x0');
    if (!isDescriptorCall) continue;
    calls++;
    for (let j = i + 1; j < code.length; j++) {
      const { op, args } = code[j];
      if (op === 'mrs' && !/nzcv/.test(args)) continue;  // mrs x, tpidr_el0 follows every call
      if (readsFlags.test(op)) {
        found.push(`${code[i].address}: descriptor call, then ${code[j].address}: ${op} ${args}`);
        break;
      }
      if (setsFlags.test(op) || endsBlock.test(op)) break;
    }
  }
  return { calls, found };
}

if (process.argv.length < 3) {
  console.error('usage: node scripts/check-tlsdesc.cjs <aarch64 binary>...');
  process.exit(2);
}
let failed = false;
for (const file of process.argv.slice(2)) {
  const { calls, found } = hazards(file);
  if (found.length > 0) {
    failed = true;
    console.error(`${file}: ${found.length} condition-flag read(s) after a TLS-descriptor call (llvm/llvm-project#39850):`);
    for (const line of found) console.error(`  ${line}`);
  } else {
    console.log(`${file}: ${calls} TLS-descriptor call(s), none followed by a condition-flag read`);
  }
}
process.exit(failed ? 1 : 0);
