/**
 * Holders of a process-wide condition (every park, every agent write passes through this process), counted so
 * that two embedded systems in one process may each hold and let go.
 */
export class Holds {
  #count = 0;

  /** `changed` is told when the first holder takes a hold (true) and when the last one lets go (false). */
  constructor(private readonly changed?: (held: boolean) => void) {}

  get held(): boolean {
    return this.#count > 0;
  }

  /** Takes a hold until the returned function is called (once; later calls do nothing). */
  take(): () => void {
    if (this.#count === 0) this.changed?.(true);
    this.#count += 1;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#count -= 1;
      if (this.#count === 0) this.changed?.(false);
    };
  }
}
