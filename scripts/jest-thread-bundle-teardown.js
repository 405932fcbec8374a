// Jest's globalTeardown: removes this run's Lambda thread bundle (see jest-thread-bundle.js).
import { rmSync } from 'node:fs';
import path from 'node:path';

export default function removeLambdaThreadBundle() {
  if (process.env.SFN_FANOUT_TEST_THREAD !== undefined) rmSync(path.dirname(process.env.SFN_FANOUT_TEST_THREAD), { recursive: true, force: true });
}
