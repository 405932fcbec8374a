#!/usr/bin/env node
// First: it checks the Node.js version before the rest of the CLI loads.
import './require-node.ts';
import { main } from '../cli.ts';

// Ctrl-C stops the execution and its workers; a second one kills the process.
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());
process.exitCode = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  tty: process.stderr.isTTY === true,
  signal: controller.signal,
});
