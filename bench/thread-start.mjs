// How long a local Lambda environment takes to start: Node starts a worker thread on a thread file
// (dist/lambda-thread.js by default) until it says it is ready, N times, and prints the mean wall
// and CPU time per environment. Give two files to compare them side by side, alternating:
//   node bench/thread-start.mjs [file ...] [--rounds 20]
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import path from 'node:path';

const args = process.argv.slice(2);
const roundsAt = args.indexOf('--rounds');
const rounds = roundsAt === -1 ? 20 : Number(args.splice(roundsAt, 2)[1]);
const files = (args.length === 0 ? ['dist/lambda-thread.js'] : args).map((file) => path.resolve(file));

async function startOnce(file) {
  const thread = new Worker(file, { env: {}, stdout: true, stderr: true });
  await new Promise((resolve, reject) => {
    thread.on('message', (message) => message?.ready === true && resolve());
    thread.once('error', reject);
  });
  await thread.terminate();
}

const totals = new Map(files.map((file) => [file, { wall: 0, cpu: 0 }]));
for (let round = 0; round < rounds; round++) {
  for (const file of files) {
    const wall = performance.now();
    const cpu = process.cpuUsage();
    await startOnce(file);
    const used = process.cpuUsage(cpu);
    const total = totals.get(file);
    total.wall += performance.now() - wall;
    total.cpu += (used.user + used.system) / 1000;
  }
}
for (const [file, { wall, cpu }] of totals) console.log(`${path.relative(process.cwd(), file)}: ${(wall / rounds).toFixed(1)} ms wall, ${(cpu / rounds).toFixed(1)} ms CPU per environment (${rounds} rounds)`);
