// Paired driver: keeps one InpaintSuite process and one onnxruntime-node process alive and alternates single runs
// between them (A B, B A, ...), so each pair sees nearly the same machine load. Prints medians and the ratio.
// Usage: node ort-overhead-pair.mjs <pairs> <dotnet dll> <node_modules> <model> <size> <threads> <batch>
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [pairsArg, dll, modules, model, size, threads, batch] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));

function start(name, cmd, args) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const queue = [];
  let waiter = null;
  lines.on('line', (l) => { if (waiter) { const w = waiter; waiter = null; w(l); } else queue.push(l); });
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => { waiter = r; }));
  return {
    name, child,
    async until(prefix) { for (;;) { const l = await next(); if (l.startsWith('info')) console.log(l); if (l.startsWith(prefix)) return l; } },
    async run() { child.stdin.write('run\n'); return Number((await this.until('ms ')).slice(3)); },
    stop() { child.stdin.end(); },
  };
}

const dotnet = start('InpaintSuite', 'dotnet', [dll, model, size, '0', threads, batch]);
const node = start('onnxruntime-node', process.execPath, [path.join(here, 'ort-node.mjs'), modules, model, size, '0', threads, batch]);
await Promise.all([dotnet.until('ready'), node.until('ready')]);

const pairs = Number(pairsArg);
const d = [], n = [], ratios = [];
for (let i = 0; i < pairs; i++) {
  let a, b;
  if (i % 2 === 0) { a = await dotnet.run(); b = await node.run(); } else { b = await node.run(); a = await dotnet.run(); }
  d.push(a); n.push(b); ratios.push(a / b);
  console.log(`pair ${i + 1}/${pairs}: InpaintSuite ${a.toFixed(1)} ms, onnxruntime-node ${b.toFixed(1)} ms`);
}
dotnet.stop(); node.stop();
const median = (x) => { const s = [...x].sort((p, q) => p - q); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const md = median(d), mn = median(n), ratio = md / mn;
console.log(`tiny UNet ${size}x${size} latent, batch ${batch}, ${threads} intra-op thread(s), ${pairs} alternating pairs`);
// The gate is the median of per-pair ratios: each pair's two runs see nearly the same load, while the ratio of the two
// medians mixes runs from different load phases (a load swing in a few pairs moves it by tens of percent).
const pairRatio = median(ratios);
console.log(`median latency  InpaintSuite binding: ${md.toFixed(1)} ms   onnxruntime-node: ${mn.toFixed(1)} ms   ratio of medians ${ratio.toFixed(3)}`);
console.log(`median of per-pair ratios ${pairRatio.toFixed(3)} (limit 1.02); min latency ${Math.min(...d).toFixed(1)} vs ${Math.min(...n).toFixed(1)} ms`);
process.exit(pairRatio <= 1.02 ? 0 : 1);
