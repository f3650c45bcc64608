/**
 * Submit a batch: paste or upload its JSON. The API validates it; every problem is listed with its JSON
 * path, and a dependency cycle is drawn with the cycle marked.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { type Api, ApiError } from '../api';
import { href } from '../format';
import { DependencyGraph, type GraphTask } from '../graph';
import { ErrorLine } from './common';

const CYCLE = /dependency cycle: (\S+(?: -> \S+)+)/;

/** The tasks of the pasted text, as far as they can be read (for drawing a refused batch). */
function tasksOf(text: string): GraphTask[] {
  try {
    const tasks = (JSON.parse(text) as { tasks?: unknown }).tasks;
    if (!Array.isArray(tasks)) return [];
    return tasks.flatMap((t: { id?: unknown; dependsOn?: unknown }) =>
      typeof t?.id === 'string'
        ? [
            {
              id: t.id,
              dependsOn: Array.isArray(t.dependsOn) ? t.dependsOn.filter((d) => typeof d === 'string') : [],
            },
          ]
        : [],
    );
  } catch {
    return [];
  }
}

export function SubmitView(props: { api: Api }): JSX.Element {
  const [text, setText] = useState('');
  const [state, setState] = useState<{ busy?: boolean; error?: unknown }>({});
  const issues = state.error instanceof ApiError ? state.error.issues : [];
  // "a -> b -> a" reads "a waits for b, which waits for a"; edges run from a dependency to its dependent.
  const cycle = issues.map((i) => CYCLE.exec(i.message)?.[1]).find((c) => c !== undefined);
  const cyclePath = cycle ? cycle.split(' -> ').reverse() : [];

  const submit = async (event: Event) => {
    event.preventDefault();
    setState({ busy: true });
    try {
      const { batchId } = await props.api.submit(text);
      window.location.hash = href('batches', batchId);
    } catch (error) {
      setState({ error });
    }
  };
  const upload = async (event: Event) => {
    const file = (event.currentTarget as HTMLInputElement).files?.[0];
    if (file) setText(await file.text());
  };

  return (
    <section aria-labelledby="submit-title">
      <h1 id="submit-title">Submit a batch</h1>
      <form onSubmit={submit}>
        <label for="batch-json">Batch JSON</label>
        <textarea
          id="batch-json"
          spellcheck={false}
          rows={16}
          value={text}
          onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)}
          placeholder='{ "tasks": [ { "id": "schema", "description": "Design the users schema" } ] }'
        />
        <div class="form-row">
          <label for="batch-file">Or upload a file</label>
          <input id="batch-file" type="file" accept="application/json,.json" onChange={upload} />
          <span class="spacer" />
          <button type="submit" disabled={state.busy || text.trim() === ''}>
            Submit
          </button>
        </div>
      </form>
      {state.error !== undefined && issues.length === 0 && <ErrorLine error={state.error} />}
      {issues.length > 0 && (
        <div role="alert" class="issues">
          <h2>The API refused the batch: nothing was run</h2>
          <ul>
            {issues.map((i) => (
              <li key={`${i.path}:${i.message}`}>
                <code>{i.path}</code>: {i.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      {cyclePath.length > 0 && (
        <>
          <h2>The cycle</h2>
          <DependencyGraph
            tasks={tasksOf(text)}
            marked={cyclePath}
            markedLabel="on the dependency cycle"
            title="The submitted graph, its cycle marked"
          />
        </>
      )}
    </section>
  );
}
