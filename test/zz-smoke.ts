import { marginSoftmax } from '../lib';
const N=20,D=40,C=50;
let s=1; const r=()=>{s=(s*16807)%2147483647; return s/2147483647-0.5;};
const e=Float32Array.from({length:N*D},r), w=Float32Array.from({length:C*D},r);
const labels=Int32Array.from({length:N},(_,i)=>i%C);
for (const precision of ['fp32','tf32','bf16'] as const) {
  const out:any = {};
  for (const backend of ['js','cpu'] as const) out[backend]=marginSoftmax({embeddings:{data:e,shape:[N,D]},weights:{data:w,shape:[C,D]},labels,backend,precision});
  const dg=(a:Float32Array,b:Float32Array)=>Math.max(...a.map((v,i)=>Math.abs(v-b[i])))/Math.max(...b.map(Math.abs));
  console.log(precision, out.js.loss, out.cpu.loss, dg(out.cpu.gradEmbeddings,out.js.gradEmbeddings), dg(out.cpu.gradWeights,out.js.gradWeights));
}
