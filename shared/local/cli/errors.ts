/**
 * Errors a command throws for bad input or configuration. They carry `exitCode = 2` (ExitCode.BadInput):
 * main() maps any error with that marker to exit code 2, so future commands only need to throw one.
 */
import { ExitCode } from './io';

/** Bad command line: unknown command, unknown flag, missing or extra argument. */
export class CliUsageError extends Error {
  readonly exitCode = ExitCode.BadInput;
  constructor(
    message: string,
    /** Usage line of the command, printed after the message. */
    readonly usage?: string,
  ) {
    super(message);
    this.name = 'CliUsageError';
  }
}

/** A file named on the command line cannot be read or is not what it should be. */
export class InputFileError extends Error {
  readonly exitCode = ExitCode.BadInput;
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'InputFileError';
  }
}
