/**
 * A problem with what the user gave us (file, flags, data). The CLI prints `message` on one
 * line and exits 2; the extension shows it as is. `message` always names the file.
 */
export class InputError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
    /** The layer the problem is in, when it is one layer's: the extension marks its definition. */
    readonly layer?: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'InputError';
  }
}

/** A usage error in CLI flags or run options (no file involved). */
export class UsageError extends Error {
  override name = 'UsageError';
}
