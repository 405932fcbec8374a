import { processInfo } from '../local/process-tree.ts';

const CHECK_EVERY_MS = 1000;

/**
 * Started by npm (`npx sfn-fanout`, `npm exec`, `npm run`), the CLI runs under `sh -c` under npm.
 * A signal sent to npm's process alone is not passed on: npm exits and the run would go on,
 * orphaned, committing outputs nobody waits for. So, on Linux, the CLI watches npm and that shell,
 * and calls `onGone` once either has exited (or its pid is another process's by now). Elsewhere,
 * or when not started by npm, nothing is watched: a run started with `nohup … &` outlives its shell
 * on purpose. Returns a function that stops watching.
 */
export function watchNpmLauncher(onGone: (pid: number) => void, env: NodeJS.ProcessEnv = process.env): () => void {
  if (env.npm_command === undefined) return () => {};
  const watched: { pid: number; startTime: string }[] = [];
  for (let pid = process.ppid; watched.length < 2 && pid > 1; ) {
    const info = processInfo(pid);
    if (info === undefined) break;
    watched.push({ pid, startTime: info.startTime });
    pid = info.parent;
  }
  if (watched.length === 0) return () => {};
  const timer = setInterval(() => {
    const gone = watched.find(({ pid, startTime }) => processInfo(pid)?.startTime !== startTime);
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(gone.pid);
  }, CHECK_EVERY_MS);
  // Never what keeps the CLI alive.
  timer.unref();
  return () => clearInterval(timer);
}
