/**
 * The batches: newest first, with status, progress, makespan and cost, a page at a time ("Older" follows the
 * API's cursor, "Newer" goes back); the page shown is refreshed every few seconds.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Api } from '../api';
import { href, ms, time, usd } from '../format';
import { RefreshError, StatusBadge, Table, usePolled } from './common';

/** How often the list is read again. */
const REFRESH_MS = 3_000;

export function BatchesView(props: { api: Api }): JSX.Element {
  // The cursors of the pages passed on the way to the one shown: empty on the newest page.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const { data, freshness } = usePolled(() => props.api.batches(cursor), REFRESH_MS, [props.api, cursor]);
  const pager = data && (cursors.length > 0 || data.nextCursor !== undefined) && (
    <nav class="pager" aria-label="Pages of batches">
      <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
        Newer
      </button>
      <span>Page {cursors.length + 1}</span>
      <button
        type="button"
        disabled={data.nextCursor === undefined}
        onClick={() => data.nextCursor !== undefined && setCursors([...cursors, data.nextCursor])}
      >
        Older
      </button>
    </nav>
  );
  return (
    <section aria-labelledby="batches-title">
      <div class="title-row">
        <h1 id="batches-title">Batches</h1>
        <a class="button" href="#/submit">
          Submit a batch
        </a>
      </div>
      <RefreshError freshness={freshness} />
      {data && data.batches.length === 0 && (
        <p class="note">{cursors.length === 0 ? 'No batches yet: submit one.' : 'No older batches.'}</p>
      )}
      {data && data.batches.length > 0 && (
        <Table columns={['Batch', 'Status', 'Progress', 'Makespan', 'Cost', 'Created']} class="batches">
          {data.batches.map((b) => (
            <tr key={b.batchId} data-batch={b.batchId}>
              <th scope="row">
                <a href={href('batches', b.batchId)}>{b.batchId}</a>
              </th>
              <td>
                <StatusBadge status={b.status} />
              </td>
              <td>
                <progress
                  max={b.tasks.total}
                  value={b.tasks.done}
                  aria-label={`${b.tasks.done} of ${b.tasks.total} tasks done`}
                />{' '}
                <span class="progress-text">
                  {b.tasks.done}/{b.tasks.total} done
                  {b.tasks.running > 0 && `, ${b.tasks.running} running`}
                  {b.tasks.failed + b.tasks.skipped > 0 &&
                    `, ${b.tasks.failed + b.tasks.skipped} failed or skipped`}
                </span>
              </td>
              <td>{ms(b.makespanMs)}</td>
              <td>{usd(b.costUsd)}</td>
              <td>{time(b.createdAt)}</td>
            </tr>
          ))}
        </Table>
      )}
      {pager}
    </section>
  );
}
