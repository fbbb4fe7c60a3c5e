/**
 * The project's own error type. Every failure caused by the user's input (a bad file, a bad flag,
 * a missing dataset) is an AresError, so the CLI can print one clear line and exit non-zero
 * instead of a stack trace.
 */
export class AresError extends Error {
  /** The file the problem is in, when there is one. */
  readonly file?: string;
  /** Process exit code the CLI uses for this error (1 = bad input / failure, 2 = usage). */
  readonly exitCode: number;

  constructor(message: string, opts: { file?: string; exitCode?: number; cause?: unknown } = {}) {
    super(opts.file && !message.includes(opts.file) ? `${opts.file}: ${message}` : message,
      opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'AresError';
    this.file = opts.file;
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** Thrown when a detector's score() is called before fit(). */
export class NotFittedError extends AresError {
  constructor(detector: string) {
    super(`detector "${detector}" must be fitted before scoring (call fit() first)`);
    this.name = 'NotFittedError';
  }
}
