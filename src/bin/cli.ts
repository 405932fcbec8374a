#!/usr/bin/env node
// First: it checks the Node.js version before the rest of the CLI loads.
import './require-node.ts';
import { main } from '../cli.ts';
import { watchNpmLauncher } from './launcher.ts';

// The first SIGINT or SIGTERM stops the run, which still writes its report; a second one kills the process.
const controller = new AbortController();
const stop = (signal: NodeJS.Signals): void => {
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  process.stderr.write(`\n${signal}: stopping the run and writing its report; send it again to stop at once.\n`);
  controller.abort(signal);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// npm does not pass on a signal sent to its process alone: its exit stops the run as a hang-up does.
watchNpmLauncher((pid) => {
  process.stderr.write(`\nThe npm process that started sfn-fanout (pid ${pid}) has exited.`);
  stop('SIGHUP');
});
process.exitCode = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  tty: process.stderr.isTTY === true,
  signal: controller.signal,
});
// A stopped run has written what it had to: nothing still winding down (a socket, a thread) may keep it alive.
if (controller.signal.aborted) process.exit();
