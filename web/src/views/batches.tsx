/** The batches: newest first, with status, progress, makespan and cost; refreshed every few seconds. */
import type { JSX } from 'preact';
import type { Api } from '../api';
import { href, ms, time, usd } from '../format';
import { ErrorLine, StatusBadge, Table, usePolled } from './common';

/** How often the list is read again. */
const REFRESH_MS = 3_000;

export function BatchesView(props: { api: Api }): JSX.Element {
  const { data, error } = usePolled(() => props.api.batches(), REFRESH_MS, [props.api]);
  return (
    <section aria-labelledby="batches-title">
      <div class="title-row">
        <h1 id="batches-title">Batches</h1>
        <a class="button" href="#/submit">
          Submit a batch
        </a>
      </div>
      <ErrorLine error={error} />
      {data && data.batches.length === 0 && <p class="note">No batches yet: submit one.</p>}
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
    </section>
  );
}
