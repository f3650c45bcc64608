/** Waiting on a condition in integration tests: probe, pause briefly, probe again, until it holds or time is up. */

/** Pause between probes: short, so a test goes on soon after the condition holds. */
export const PROBE_PAUSE_MS = 50;
/** How long a condition may take on a loaded 2-core machine before the test gives up. */
export const DEFAULT_WAIT_MS = 30_000;

/** The first value `probe` answers (not undefined); throws when `withinMs` passes first, naming `what`. */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined>,
  what = 'the condition',
  withinMs = DEFAULT_WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${withinMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, PROBE_PAUSE_MS));
  }
}
