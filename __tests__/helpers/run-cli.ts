import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CliProcess {
  /** Resolves once stderr holds `text`. */
  waitForStderr(text: string, timeoutMs: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the process has exited; `afterMs` counts from the first signal sent (or the start). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; afterMs: number }>;
}

/** The bundled CLI (dist/cli.js) as a user runs it: a child process with exactly the environment given. */
export function startCli(args: readonly string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [path.join(root, 'dist/cli.js'), ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const startedAt = Date.now();
  let signalledAt: number | undefined;
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const waiter of waiters.filter((w) => stderr.includes(w.text))) waiter.resolve();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; afterMs: number }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, afterMs: Date.now() - (signalledAt ?? startedAt) })),
  );
  return {
    exited,
    kill(signal) {
      signalledAt ??= Date.now();
      child.kill(signal);
    },
    waitForStderr(text, timeoutMs) {
      if (stderr.includes(text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`No "${text}" on stderr after ${timeoutMs} ms; stderr so far:\n${stderr}`)), timeoutMs);
        waiters.push({ text, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}
