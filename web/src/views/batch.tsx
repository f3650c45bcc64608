/**
 * One batch: its dependency graph with live statuses (WebSocket), the critical path marked, cancel and
 * redrive, and every task in a table.
 */
import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { criticalPath, DEFAULT_TASK_ESTIMATE_MS } from '../../../shared/domain/dag';
import type { Api, BatchGraph, BatchResult } from '../api';
import { href, ms, tokens, usd } from '../format';
import { DependencyGraph } from '../graph';
import { passing, retryDelay } from '../poll';
import { ErrorLine, type Freshness, RefreshError, StatusBadge, Table, usePolled } from './common';

/** Progress messages arriving close together cause one read of the result. */
const REFRESH_DEBOUNCE_MS = 150;
/** A running batch is read again this often even without a message (a socket may drop). */
const FALLBACK_REFRESH_MS = 5_000;
const REDRIVABLE = new Set(['FAILED', 'SKIPPED', 'CANCELLED']);
/**
 * Rows of the task table drawn at first, and added by each "show more": the browser lays a table out whole,
 * and 2,000 rows took seconds on every change of a status (the page froze while a big batch ran).
 */
const TASK_ROWS_PAGE = 100;

/** The critical path: actual durations for finished tasks, the simulated or default estimate for the rest. */
function markedPath(graph: BatchGraph, result: BatchResult | undefined): string[] {
  const byId = new Map(result?.tasks.map((t) => [t.id, t]));
  try {
    return criticalPath(graph.tasks, (task) => {
      const r = byId.get(task.id);
      if (r?.startedAt !== undefined && r.finishedAt !== undefined)
        return Math.max(0, r.finishedAt - r.startedAt);
      return task.simulatedDurationMs ?? DEFAULT_TASK_ESTIMATE_MS;
    }).ids;
  } catch {
    return [];
  }
}

export function BatchView(props: { api: Api; batchId: string }): JSX.Element {
  const { api, batchId } = props;
  const [result, setResult] = useState<BatchResult>();
  const [freshness, setFreshness] = useState<Freshness>({});
  const [live, setLive] = useState<Record<string, string>>({});
  const [action, setAction] = useState<{ busy?: boolean; error?: unknown; done?: string }>({});
  const [rows, setRows] = useState(TASK_ROWS_PAGE);
  // Read once, as before; but a first read that fails in a way that may pass is tried again as the polled
  // reads are (it left the page without its graph until reloaded), the notice saying when.
  const graph = usePolled(() => api.graph(batchId), 0, [api, batchId], { retryMs: FALLBACK_REFRESH_MS });

  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    let failures = 0;
    const refreshIn = (delayMs: number) => {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, delayMs);
    };
    const refresh = async () => {
      window.clearTimeout(timer);
      try {
        const next = await api.batch(batchId);
        if (stopped) return;
        failures = 0;
        setResult(next);
        setLive({});
        setFreshness({ readAt: Date.now() });
        if (next.status === 'RUNNING') refreshIn(FALLBACK_REFRESH_MS);
      } catch (e) {
        if (stopped) return;
        // A failure that may pass (the network, a 5xx) is tried again, later each time it recurs: left alone,
        // the view stayed as it was until a progress message came, and a dropped socket brings none.
        failures++;
        const delay = passing(e) ? retryDelay(FALLBACK_REFRESH_MS, failures) : undefined;
        if (delay !== undefined) refreshIn(delay);
        setFreshness((f) => ({
          ...(f.readAt !== undefined ? { readAt: f.readAt } : {}),
          error: e,
          ...(delay !== undefined ? { retryAt: Date.now() + delay } : {}),
        }));
      }
    };
    let debounce: number | undefined;
    const progress = api.follow(
      batchId,
      (message) => {
        if (message.type === 'task' && message.taskId) {
          const taskId = message.taskId;
          setLive((current) => ({ ...current, [taskId]: message.status }));
        }
        window.clearTimeout(debounce);
        debounce = window.setTimeout(refresh, REFRESH_DEBOUNCE_MS);
      },
      () => void refresh(),
    );
    void refresh();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      window.clearTimeout(debounce);
      progress.close();
    };
  }, [api, batchId]);

  const statusOf = (taskId: string) =>
    live[taskId] ?? result?.tasks.find((t) => t.id === taskId)?.status ?? 'PENDING';
  const tasks = graph.data?.tasks.map((t) => ({ ...t, status: statusOf(t.id) })) ?? [];
  const path = useMemo(() => (graph.data ? markedPath(graph.data, result) : []), [graph.data, result]);
  const open = (taskId: string) => {
    window.location.hash = href('batches', batchId, 'tasks', taskId);
  };
  const act = async (what: 'cancel' | 'redrive') => {
    setAction({ busy: true });
    try {
      await (what === 'cancel' ? api.cancel(batchId) : api.redrive(batchId));
      setAction({
        done: what === 'cancel' ? 'Cancelled.' : 'Redriven: the tasks that did not succeed run again.',
      });
      setResult(await api.batch(batchId));
    } catch (e) {
      setAction({ error: e });
    }
  };
  const done = result?.tasks.filter((t) =>
    ['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'].includes(t.status),
  ).length;
  const canRedrive =
    result && result.status !== 'RUNNING' && result.tasks.some((t) => REDRIVABLE.has(t.status));

  return (
    <section aria-labelledby="batch-title">
      <p class="crumbs">
        <a href="#/">Batches</a> /
      </p>
      <div class="title-row">
        <h1 id="batch-title">{batchId}</h1>
        {result && <StatusBadge status={result.status} />}
        <span class="spacer" />
        {result?.status === 'RUNNING' && (
          <button type="button" class="danger" disabled={action.busy} onClick={() => act('cancel')}>
            Cancel batch
          </button>
        )}
        {canRedrive && (
          <button type="button" disabled={action.busy} onClick={() => act('redrive')}>
            Redrive failed tasks
          </button>
        )}
      </div>
      <RefreshError freshness={freshness} />
      <ErrorLine error={action.error} />
      {action.done && (
        <p class="note" role="status">
          {action.done}
        </p>
      )}
      {result && (
        <dl class="facts">
          <div>
            <dt>Progress</dt>
            <dd>
              {done}/{result.tasks.length} done
            </dd>
          </div>
          <div>
            <dt>Makespan</dt>
            <dd>{ms(result.makespanMs)}</dd>
          </div>
          <div>
            <dt>Tokens</dt>
            <dd>{tokens(result.usage)}</dd>
          </div>
          <div>
            <dt>Cost</dt>
            <dd>{usd(result.costUsd)}</dd>
          </div>
          {result.budget && (
            <div>
              <dt>Budget</dt>
              <dd>
                {result.budget.maxCostUsd !== undefined &&
                  `${usd(result.budget.spentUsd)} spent of ${usd(result.budget.maxCostUsd)}`}
                {result.budget.maxCostUsd !== undefined && result.budget.maxTokens !== undefined && '; '}
                {result.budget.maxTokens !== undefined &&
                  `${result.budget.spentTokens.toLocaleString()} of ${result.budget.maxTokens.toLocaleString()} tokens`}
                {(result.budget.reservedUsd > 0 || result.budget.reservedTokens > 0) &&
                  ` (${usd(result.budget.reservedUsd)} held by running attempts)`}
                {result.budget.exhausted && <span class="reason"> {result.budget.exhausted}</span>}
              </dd>
            </div>
          )}
          <div>
            <dt>Critical path</dt>
            <dd class="path">{path.length > 0 ? path.join(' → ') : '–'}</dd>
          </div>
        </dl>
      )}
      <h2>Dependency graph</h2>
      <p class="legend" aria-hidden="true">
        <span class="key marked-key">critical path</span> Select a task (click, or Tab then Enter) to open it.
      </p>
      <RefreshError freshness={graph.freshness} />
      {graph.data && (
        <DependencyGraph
          tasks={tasks}
          marked={path}
          markedLabel="on the critical path"
          onOpen={open}
          title={`Dependency graph of ${batchId}`}
        />
      )}
      <h2>Tasks</h2>
      {result && (
        <Table columns={['Task', 'Status', 'Role', 'Agent', 'Attempts', 'Duration', 'Tokens', 'Cost']}>
          {result.tasks.slice(0, rows).map((t) => (
            <tr key={t.id} data-task-row={t.id}>
              <th scope="row">
                <a href={href('batches', batchId, 'tasks', t.id)}>{t.id}</a>
              </th>
              <td>
                <StatusBadge status={statusOf(t.id)} />
                {t.reason && <span class="reason"> {t.reason}</span>}
              </td>
              <td>{t.role ?? '–'}</td>
              <td>{t.agentId ?? '–'}</td>
              <td>{t.attempts.length}</td>
              <td>
                {ms(
                  t.startedAt !== undefined && t.finishedAt !== undefined
                    ? t.finishedAt - t.startedAt
                    : undefined,
                )}
              </td>
              <td>{tokens(t.usage)}</td>
              <td>{usd(t.costUsd)}</td>
            </tr>
          ))}
        </Table>
      )}
      {result && result.tasks.length > rows && (
        <p class="more-rows">
          {rows} of {result.tasks.length} tasks shown.{' '}
          <button type="button" onClick={() => setRows(rows + TASK_ROWS_PAGE)}>
            Show {Math.min(TASK_ROWS_PAGE, result.tasks.length - rows)} more
          </button>
        </p>
      )}
    </section>
  );
}
