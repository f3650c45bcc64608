import { resolve } from 'node:path';
import type { CliIO } from '../../shared/local/cli/io';

/** The repository root, for running commands on examples/. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** A CliIO that records what a command prints. */
export interface FakeIO extends CliIO {
  out: string;
  err: string;
}

export function fakeIO(cwd = ROOT, env: NodeJS.ProcessEnv = {}): FakeIO {
  const io: FakeIO = {
    out: '',
    err: '',
    stdout: (text) => {
      io.out += text;
    },
    stderr: (text) => {
      io.err += text;
    },
    isTTY: false,
    cwd,
    env,
  };
  return io;
}
