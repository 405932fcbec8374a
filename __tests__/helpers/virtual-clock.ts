import type { Clock } from '../../src/aws/clock.ts';

/** A clock whose sleeps advance time at once and are recorded: hours of polling in milliseconds. */
export class VirtualClock implements Clock {
  time: number;
  readonly sleeps: number[] = [];

  constructor(start = Date.UTC(2026, 10, 27, 2, 0, 0)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.time += ms;
    // A macrotask, not a microtask: a wait that never ends still lets the test's timeout fire.
    await new Promise((resolve) => setImmediate(resolve));
  }
}
