/**
 * The agents: role, status, reserved / capacity, success rate, latency, circuit, tokens and cost, refreshed
 * live.
 */
import type { JSX } from 'preact';
import type { Api } from '../api';
import { ms, percent, tokens, usd } from '../format';
import { ErrorLine, StatusBadge, Table, usePolled } from './common';

const REFRESH_MS = 3_000;

export function AgentsView(props: { api: Api }): JSX.Element {
  const { data, error } = usePolled(() => props.api.agents(), REFRESH_MS, [props.api]);
  const agents = [...(data?.agents ?? [])].sort(
    (a, b) => a.role.localeCompare(b.role) || a.agentId.localeCompare(b.agentId),
  );
  return (
    <section aria-labelledby="agents-title">
      <h1 id="agents-title">Agents</h1>
      <ErrorLine error={error} />
      {data && agents.length === 0 && (
        <p class="note">No agents yet: the router spawns them on the first tasks.</p>
      )}
      {agents.length > 0 && (
        <Table
          columns={[
            'Agent',
            'Role',
            'Status',
            'Reserved / capacity',
            'Success rate',
            'Latency (EWMA)',
            'Circuit',
            'Tokens',
            'Cost',
          ]}
        >
          {agents.map((a) => (
            <tr key={a.agentId}>
              <th scope="row">{a.agentId}</th>
              <td>{a.role}</td>
              <td>
                <StatusBadge status={a.status} />
              </td>
              <td>
                <meter
                  min={0}
                  max={a.capacity}
                  value={a.reserved}
                  aria-label={`${a.reserved} of ${a.capacity} slots`}
                />{' '}
                {a.reserved} / {a.capacity}
              </td>
              <td>
                {percent(a.successRate)} ({a.successes}/{a.attempts})
              </td>
              <td>{ms(a.ewmaLatencyMs)}</td>
              <td>
                <StatusBadge status={`circuit-${a.circuit}`} />
              </td>
              <td>{tokens(a.usage)}</td>
              <td>{a.usage ? usd(a.costUsd) : '–'}</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}
