/** What a CLI command may touch: injected so commands are testable without a terminal or a process. */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** True when stdout is an interactive terminal (live progress is drawn only then). */
  isTTY: boolean;
  /** Current working directory, for resolving FILE arguments. */
  cwd: string;
  env: NodeJS.ProcessEnv;
  /**
   * Asks the person at the terminal and answers what they typed; absent when stdin is not an interactive
   * terminal (nobody to ask). `meta-agent run` asks for approvals with it.
   */
  ask?: (question: string) => Promise<string>;
}

/** Exit codes of every command (ARCHITECTURE.md, CLI). */
export const ExitCode = {
  /** All tasks succeeded (or, for plan/route, the input was valid). */
  Ok: 0,
  /** Some task failed or was skipped. */
  TasksFailed: 1,
  /** Bad input or configuration: nothing was run. */
  BadInput: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A command: parses its own arguments, returns its exit code. */
export type Command = (argv: string[], io: CliIO) => Promise<number>;
