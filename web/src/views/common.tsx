/** Pieces every view uses: the status badge, loading and error lines, a polling hook. */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { passing, retryDelay } from '../poll';

export function StatusBadge(props: { status: string }): JSX.Element {
  return <span class={`badge status-${props.status}`}>{props.status.replace('_', ' ')}</span>;
}

/** A table's header row of column names, and the scrolling frame that keeps wide tables off the page's width. */
export function Table(props: {
  columns: readonly string[];
  class?: string;
  caption?: string;
  children: JSX.Element[];
}): JSX.Element {
  return (
    <div class="table-scroll">
      <table class={props.class}>
        {props.caption && <caption>{props.caption}</caption>}
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

export function ErrorLine(props: { error: unknown }): JSX.Element | null {
  if (props.error === undefined) return null;
  const message = props.error instanceof Error ? props.error.message : String(props.error);
  const status = props.error instanceof ApiError ? ` (HTTP ${props.error.status})` : '';
  return (
    <p class="error" role="alert">
      {message}
      {status}
    </p>
  );
}

/** How fresh a polled view is: when its data was last read, and the failures of the reads since. */
export interface Freshness {
  /** When the data shown was read (epoch ms); undefined before a first read succeeded. */
  readAt?: number;
  /** The last read's error, while reads fail. */
  error?: unknown;
  /** When the next read is due (epoch ms), while reads fail. */
  retryAt?: number;
}

/**
 * The error of a failed read: alone when there is nothing to show, else a note that what is shown is stale
 * (read when, why the last read failed, when the next one is due) over the data kept on screen.
 */
export function RefreshError(props: { freshness: Freshness }): JSX.Element | null {
  const { readAt, error, retryAt } = props.freshness;
  if (error === undefined) return null;
  const why = error instanceof ApiError ? `HTTP ${error.status}: ${error.message}` : errorText(error);
  if (readAt === undefined) {
    if (retryAt === undefined) return <ErrorLine error={error} />;
    // Nothing to show yet, and the read is tried again: say so, rather than an error that looks final.
    return (
      <p class="stale" role="status">
        Not loaded: the read failed ({why}); trying again at {clock(retryAt)}.
      </p>
    );
  }
  return (
    <p class="stale" role="status">
      Not up to date: the last refresh failed ({why}). Shown as read at {clock(readAt)}
      {retryAt !== undefined && `; trying again at ${clock(retryAt)}`}.
    </p>
  );
}

const clock = (epochMs: number) => new Date(epochMs).toLocaleTimeString();
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Loads `load()` now and every `everyMs` (0: once); `reload()` loads again at once. A read that fails keeps
 * the data read before, and the next read comes later the more reads fail in a row (retryDelay). Loaded once
 * with `retryMs`, a read that fails in a way that may pass (passing: the network, a 5xx) is tried again after
 * retryDelay(retryMs, failures) until one succeeds: a page read once must not stay empty for a failure of a moment.
 */
export function usePolled<T>(
  load: () => Promise<T>,
  everyMs: number,
  deps: readonly unknown[],
  options: { retryMs?: number } = {},
): { data?: T; error?: unknown; freshness: Freshness; reload: () => void } {
  const { retryMs } = options;
  const [state, setState] = useState<{ data?: T } & Freshness>({});
  const loader = useRef(load);
  loader.current = load;
  const [tick, setTick] = useState(0);
  // Other deps read other data (another page, another task): nothing read before is shown as theirs.
  useEffect(() => setState({}), deps);
  useEffect(() => {
    let live = true;
    let timer: number | undefined;
    let failures = 0;
    const run = async () => {
      let delay: number | undefined;
      try {
        const data = await loader.current();
        failures = 0;
        if (everyMs > 0) delay = everyMs;
        if (live) setState({ data, readAt: Date.now() });
      } catch (error) {
        failures++;
        if (everyMs > 0) delay = retryDelay(everyMs, failures);
        else if (retryMs !== undefined && passing(error)) delay = retryDelay(retryMs, failures);
        const retryAt = delay !== undefined ? Date.now() + delay : undefined;
        if (live) setState((s) => ({ data: s.data, readAt: s.readAt, error, retryAt }));
      }
      if (live && delay !== undefined) timer = window.setTimeout(run, delay);
    };
    void run();
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [...deps, tick, retryMs]);
  const { data, ...freshness } = state;
  return {
    ...(data !== undefined ? { data } : {}),
    ...(freshness.error !== undefined ? { error: freshness.error } : {}),
    freshness,
    reload: () => setTick((t) => t + 1),
  };
}
