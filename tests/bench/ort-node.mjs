// Times the tiny UNet through onnxruntime-node (the npm package's own JS binding over the same native library).
// Usage: node ort-node.mjs <node_modules dir> <model.onnx> <latent size> <iterations> <threads> <batch>
// Prints "ms <milliseconds>" per timed run after 3 warm-up runs; inputs and options match OrtOverhead/Program.cs.
import { createRequire } from 'node:module';
import path from 'node:path';

const [modules, model, sizeArg, itersArg, threadsArg, batchArg] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), 'noop.js'));
const ort = require('onnxruntime-node');
const size = Number(sizeArg), iterations = Number(itersArg), threads = Number(threadsArg), batch = Number(batchArg ?? 1);

const session = await ort.InferenceSession.create(model, {
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
});
const meta = session.inputMetadata ?? [];
const sampleMeta = Array.isArray(meta) ? meta.find((m) => m.name === 'sample') : undefined;
const channels = sampleMeta?.shape?.[1] ?? 4;
const fill = (n) => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.fround(((i * 7919) % 1000) / 500 - 1);
  return a;
};
const feeds = {
  sample: new ort.Tensor('float32', fill(batch * channels * size * size), [batch, channels, size, size]),
  timestep: new ort.Tensor('int64', new BigInt64Array(batch).fill(500n), [batch]),
  encoder_hidden_states: new ort.Tensor('float32', fill(batch * 77 * 32), [batch, 77, 32]),
};
let checksum = 0;
for (let i = 0; i < 3; i++) checksum = (await session.run(feeds)).out_sample.data[0];
console.log(`info node onnxruntime-node ${require('onnxruntime-node/package.json').version}; out[0]=${checksum}`);
const timedRun = async () => {
  const t0 = process.hrtime.bigint();
  const result = await session.run(feeds);
  const t1 = process.hrtime.bigint();
  if (!result.out_sample) throw new Error('no output');
  console.log(`ms ${(Number(t1 - t0) / 1e6).toFixed(3)}`);
};
if (iterations > 0) {
  for (let i = 0; i < iterations; i++) await timedRun();
} else {
  // iterations 0: serve mode for the paired driver, one timed run per "run" line on stdin.
  const readline = await import('node:readline');
  console.log('ready');
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (line !== 'run') break;
    await timedRun();
  }
}
