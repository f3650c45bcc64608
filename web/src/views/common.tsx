/** Pieces every view uses: the status badge, loading and error lines, a polling hook. */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';

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

/** Loads `load()` now and every `everyMs` (0: once); `reload()` loads again at once. */
export function usePolled<T>(
  load: () => Promise<T>,
  everyMs: number,
  deps: readonly unknown[],
): { data?: T; error?: unknown; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: unknown }>({});
  const loader = useRef(load);
  loader.current = load;
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let timer: number | undefined;
    const run = async () => {
      try {
        const data = await loader.current();
        if (live) setState({ data });
      } catch (error) {
        if (live) setState((s) => ({ ...s, error }));
      }
      if (live && everyMs > 0) timer = window.setTimeout(run, everyMs);
    };
    void run();
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}
