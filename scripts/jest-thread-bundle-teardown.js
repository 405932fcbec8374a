// Jest's globalTeardown: removes this run's Lambda thread bundle (see jest-thread-bundle.js).
import { rmSync } from 'node:fs';

export default function removeLambdaThreadBundle() {
  if (process.env.SFN_FANOUT_TEST_THREAD !== undefined) rmSync(process.env.SFN_FANOUT_TEST_THREAD, { force: true });
}
