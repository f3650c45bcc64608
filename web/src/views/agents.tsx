/**
 * The agents: role, status, reserved / capacity, success rate, latency, circuit, tokens and cost; and the
 * fleet-wide provider limits: calls in flight / slots allowed now, the rate after 429s. Refreshed live.
 */
import type { JSX } from 'preact';
import type { Api, ProviderLimitView } from '../api';
import { ms, percent, time, tokens, usd } from '../format';
import { RefreshError, StatusBadge, Table, usePolled } from './common';

const REFRESH_MS = 3_000;

export function AgentsView(props: { api: Api }): JSX.Element {
  const { data, freshness } = usePolled(() => props.api.agents(), REFRESH_MS, [props.api]);
  const agents = [...(data?.agents ?? [])].sort(
    (a, b) => a.role.localeCompare(b.role) || a.agentId.localeCompare(b.agentId),
  );
  return (
    <section aria-labelledby="agents-title">
      <h1 id="agents-title">Agents</h1>
      <RefreshError freshness={freshness} />
      <ProviderLimits providers={data?.providers ?? []} />
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

/** Calls in flight per provider (and model) against the fleet-wide limit in force now. */
function ProviderLimits(props: { providers: ProviderLimitView[] }): JSX.Element | null {
  if (props.providers.length === 0) return null;
  return (
    <section aria-labelledby="providers-title">
      <h2 id="providers-title">Provider limits</h2>
      <Table columns={['Provider', 'In use / limit', 'Rate', 'Requests / min', 'Tokens / min']}>
        {props.providers.map((p) => (
          <tr key={p.key}>
            <th scope="row">{p.key}</th>
            <td>
              <meter min={0} max={p.limit} value={p.inUse} aria-label={`${p.inUse} of ${p.limit} calls`} />{' '}
              {p.inUse} / {p.limit}
              {p.limit < p.maxConcurrent ? ` (of ${p.maxConcurrent})` : ''}
            </td>
            <td>
              {percent(p.rateFactor)}
              {p.throttles > 0 ? `, ${p.throttles} × 429` : ''}
              {p.coolingUntil ? `, holds until ${time(p.coolingUntil)}` : ''}
            </td>
            <td>
              {p.requestsPerMinute === undefined
                ? '–'
                : `${p.requestsAvailable} left of ${p.requestsPerMinute}`}
            </td>
            <td>
              {p.tokensPerMinute === undefined ? '–' : `${p.tokensAvailable} left of ${p.tokensPerMinute}`}
            </td>
          </tr>
        ))}
      </Table>
    </section>
  );
}
