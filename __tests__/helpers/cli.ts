import { main } from '../../src/cli.ts';

/** Runs the CLI in this process, as `sfn-fanout <args>`, with its output captured. */
export async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => void (out += t), err: (t) => void (err += t), tty: false });
  return { code, out, err };
}
