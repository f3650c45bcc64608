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
  /**
   * How the commands that talk to a remote API wait before sending a request again (RemoteApi's `wait`); absent,
   * they wait in real time. Tests record the waits instead of waiting them out.
   */
  wait?: (ms: number) => Promise<void>;
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

/**
 * Control characters a terminal acts on (C0 but tab and newline, DEL, C1) and the bidirectional overrides
 * that reorder what is shown. Text an agent wrote (an output, a validator's comments, an error) may carry
 * them: an escape sequence can erase or rewrite the lines around it, set the clipboard (OSC 52) or the
 * window title, so a person would decide on something other than what is shown.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point.
const TERMINAL_CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** `text` safe to print on a terminal: each control character shown as its escape (`\u001b`), not acted on. */
export function printable(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
