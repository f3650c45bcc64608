/**
 * What a process knows of the tasks parked for capacity (see handoff.ts and route.ts): a release that finds
 * nobody parked for a role skips its Query for a while.
 */

/**
 * Roles this process last found with nobody parked, and when. A release within NO_PARKED_TTL_MS of that skips
 * its Query, so a pool with room (nobody waits) pays about one Query per role per TTL for wakes instead of
 * one per completion. A park in this process clears its role at once; a park in another process (another
 * Lambda container) is seen at most the TTL later, or at its own timeout.
 *
 * Where no other process parks tasks (the embedded runtime runs every handler in its own process: see
 * holdWhileEveryParkIsHere), a role found empty stays so until a park here clears it: the TTL only bounds
 * what another process's park may hide, and a Query per role every second was about 2 ms of dynalite's
 * thread on a hop of a chain whose roles take turns.
 */
export class ParkedHints {
  readonly #emptyAt = new Map<string, number>();
  /** Waiting marks written (or tokens parked) in this process, per role: a release's "since" snapshot. */
  readonly #parks = new Map<string, number>();
  /** Holders that know every park passes through these hints (see holdWhileEveryParkIsHere). */
  #holders = 0;

  constructor(private readonly ttlMs = NO_PARKED_TTL_MS) {}

  /** true when `role` was found empty less than the TTL ago, or at all while every park passes here. */
  nobodyParked(role: string, now: number): boolean {
    const at = this.#emptyAt.get(role);
    return at !== undefined && (this.#holders > 0 || now - at < this.ttlMs);
  }

  /** The count of parks of `role` so far, to compare with parkedSince. */
  parks(role: string): number {
    return this.#parks.get(role) ?? 0;
  }

  /** true when a task of `role` marked itself waiting in this process after `snapshot` (of parks) was taken. */
  parkedSince(role: string, snapshot: number): boolean {
    return this.parks(role) !== snapshot;
  }

  /**
   * `role` was found with nobody parked by a look that began at `snapshot` (of parks): believed empty for the
   * TTL, unless a task marked itself waiting since the look began (the look may have missed its mark).
   */
  foundEmpty(role: string, now: number, snapshot: number): void {
    // Required: a look that does not say when it began would record a park that landed while it read as none.
    if (!this.parkedSince(role, snapshot)) this.#emptyAt.set(role, now);
  }

  parked(role: string): void {
    this.#emptyAt.delete(role);
    this.#parks.set(role, this.parks(role) + 1);
  }

  /**
   * Every park of the tasks these hints serve passes through them from now until the returned function is
   * called (once; later calls do nothing): no other process marks a task waiting, so a role found with nobody
   * parked stays so until a park here clears it, past the TTL. Holders count, so two embedded systems in one
   * process may each hold and let go: a park in either clears the role for both, which costs a Query, never a
   * lost wake-up. Once every holder let go, a role found empty more than the TTL ago is looked at again.
   */
  holdWhileEveryParkIsHere(): () => void {
    this.#holders += 1;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#holders -= 1;
    };
  }
}

/** How long a role found with nobody parked is believed empty by the process that found it. */
export const NO_PARKED_TTL_MS = 1_000;
/** The hints of this process (Lambda container, or the embedded runtime, where every handler shares them). */
export const processHints = new ParkedHints();
/** The hints `deps` names, else this process's. */
export const hintsOf = (deps: { hints?: ParkedHints | undefined }) => deps.hints ?? processHints;
