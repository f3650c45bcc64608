/**
 * One task: what was asked, where it ran and why there ("why this agent": every candidate's four terms,
 * and the agents left out with their reasons), its attempts, its output, tokens and cost.
 */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Api, TaskDetail } from '../api';
import { callerText, href, ms, term, time, tokenBreakdown, tokens, usd } from '../format';
import { ErrorLine, RefreshError, StatusBadge, Table, usePolled } from './common';

/** A running task is read again this often. */
const REFRESH_MS = 2_000;
/** Characters of an inline output shown before "show all". */
const OUTPUT_PREVIEW_CHARS = 20_000;

/** The text shown of an output: the first OUTPUT_PREVIEW_CHARS characters. */
const preview = (text: string) =>
  text.length > OUTPUT_PREVIEW_CHARS ? `${text.slice(0, OUTPUT_PREVIEW_CHARS)}\n…` : text;

/**
 * An output stored apart: read through the API with the key on request (a plain link would be refused
 * without it), then shown and offered as a file.
 */
function StoredOutput(props: {
  api: Api;
  task: TaskDetail;
  stored: NonNullable<TaskDetail['outputRef']>;
}): JSX.Element {
  const { api, task, stored } = props;
  const [state, setState] = useState<{ busy?: boolean; text?: string; file?: string; error?: unknown }>({});
  useEffect(
    () => () => {
      if (state.file) URL.revokeObjectURL(state.file);
    },
    [state.file],
  );
  const load = async () => {
    setState({ busy: true });
    try {
      const text = await api.output(task.batchId, task.id);
      setState({ text, file: URL.createObjectURL(new Blob([text], { type: stored.contentType })) });
    } catch (error) {
      setState({ error });
    }
  };
  return (
    <div class="stored-output">
      <p>
        Whole output: {stored.bytes.toLocaleString()} bytes, {stored.contentType}, sha256{' '}
        <code>{stored.sha256.slice(0, 12)}…</code>{' '}
        {state.file ? (
          <a href={state.file} download={`${task.id}.output.json`}>
            Save as a file
          </a>
        ) : (
          <button type="button" disabled={state.busy} onClick={load}>
            Show the whole output
          </button>
        )}
      </p>
      <ErrorLine error={state.error} />
      {state.text !== undefined && <pre class="output">{preview(state.text)}</pre>}
    </div>
  );
}

function Output(props: { api: Api; task: TaskDetail }): JSX.Element {
  const { task, api } = props;
  if (task.output === undefined && !task.outputRef) return <p class="note">No output yet.</p>;
  const simulated =
    typeof task.output === 'object' &&
    task.output !== null &&
    (task.output as { simulated?: unknown }).simulated === true;
  const text = typeof task.output === 'string' ? task.output : JSON.stringify(task.output, null, 2);
  return (
    <div>
      {simulated && (
        <p class="note simulated">
          Simulated executor: no model was called; this output is made up for testing.
        </p>
      )}
      {task.output !== undefined && <pre class="output">{preview(text)}</pre>}
      {task.outputRef && <StoredOutput api={api} task={task} stored={task.outputRef} />}
    </div>
  );
}

/** Characters of a reviewer's comment (MAX_APPROVAL_COMMENT_CHARS of the API). */
const COMMENT_MAX_CHARS = 4_000;

/**
 * A task waiting for a person's approval: what is waited for and until when, with Approve and Reject (the
 * comment goes to the record and, on a rejected output, to the next attempt's context).
 */
function ApprovalPanel(props: { api: Api; task: TaskDetail; onDecided: () => void }): JSX.Element | null {
  const { api, task, onDecided } = props;
  const [comment, setComment] = useState('');
  const [state, setState] = useState<{ busy?: boolean; error?: unknown }>({});
  const awaiting = task.awaiting;
  if (task.status !== 'AWAITING_APPROVAL' || !awaiting) return null;
  const decide = async (decision: 'approve' | 'reject') => {
    setState({ busy: true });
    try {
      await api.decide(task.batchId, task.id, decision, comment.trim() || undefined);
      setComment('');
      setState({});
      onDecided();
    } catch (error) {
      setState({ error });
    }
  };
  const what =
    awaiting.stage === 'before'
      ? 'This task waits for approval before it is dispatched.'
      : `The output of attempt ${awaiting.attempt ?? '?'} waits for approval (below).`;
  return (
    <section class="approval-panel" aria-label="Approval">
      <p>
        <strong>{what}</strong>{' '}
        {awaiting.reviewer === 'person'
          ? `Rejected by timeout at ${time(awaiting.deadline)}.`
          : `Reviewed by an agent of ${awaiting.reviewer}; a decision here overrides it.`}
      </p>
      <label for="approval-comment">Comment (optional; a rejected output's next attempt is told it)</label>
      <textarea
        id="approval-comment"
        rows={3}
        maxLength={COMMENT_MAX_CHARS}
        value={comment}
        onInput={(e) => setComment((e.target as HTMLTextAreaElement).value)}
      />
      <div class="approval-actions">
        <button type="button" disabled={state.busy} onClick={() => decide('approve')}>
          Approve
        </button>
        <button type="button" class="danger" disabled={state.busy} onClick={() => decide('reject')}>
          Reject
        </button>
      </div>
      <ErrorLine error={state.error} />
    </section>
  );
}

function WhyThisAgent(props: { task: TaskDetail }): JSX.Element {
  const decision = props.task.decision;
  if (!decision) return <p class="note">Not routed yet.</p>;
  const req = decision.requirements;
  const needs = [...req.languages, ...req.frameworks, ...req.skills];
  return (
    <div>
      <p>
        Chosen: <strong>{decision.agentId}</strong> ({decision.role}), score {term(decision.score)}
        {decision.spawned ? ', spawned for this task' : ''}. Requirements:{' '}
        {req.explicitRole ? `role ${req.explicitRole}; ` : ''}
        {needs.length > 0 ? needs.join(', ') : 'none named'}; complexity {req.complexity}.
      </p>
      <p class="note">
        Score = 0.40 specialization + 0.30 availability (1 − load) + 0.20 success + 0.10 speed.
      </p>
      <Table
        columns={['Agent', 'Role', 'Score', 'Specialization', 'Availability', 'Success', 'Speed']}
        class="candidates"
        caption="Candidates"
      >
        {decision.candidates.map((c) => (
          <tr key={c.agentId} class={c.agentId === decision.agentId ? 'chosen' : ''}>
            <th scope="row">
              {c.agentId}
              {c.agentId === decision.agentId && <span class="chosen-mark"> (chosen)</span>}
            </th>
            <td>{c.role}</td>
            <td>{term(c.score)}</td>
            <td>{term(c.breakdown.specialization)}</td>
            <td>{term(c.breakdown.availability)}</td>
            <td>{term(c.breakdown.success)}</td>
            <td>{term(c.breakdown.speed)}</td>
          </tr>
        ))}
      </Table>
      {decision.rejected.length > 0 && (
        <>
          <h3>Left out</h3>
          <ul class="rejected">
            {decision.rejected.map((r) => (
              <li key={r.agentId}>
                <strong>{r.agentId}</strong>: {r.reason}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

export function TaskView(props: { api: Api; batchId: string; taskId: string }): JSX.Element {
  const { api, batchId, taskId } = props;
  const {
    data: task,
    freshness,
    reload,
  } = usePolled(() => api.task(batchId, taskId), REFRESH_MS, [api, batchId, taskId]);
  return (
    <section aria-labelledby="task-title">
      <p class="crumbs">
        <a href="#/">Batches</a> / <a href={href('batches', batchId)}>{batchId}</a> /
      </p>
      <div class="title-row">
        <h1 id="task-title">{taskId}</h1>
        {task && <StatusBadge status={task.status} />}
      </div>
      <RefreshError freshness={freshness} />
      {task && (
        <>
          <p class="description">{task.spec.description}</p>
          <dl class="facts">
            <div>
              <dt>Role</dt>
              <dd>{task.role ?? task.spec.role ?? '–'}</dd>
            </div>
            <div>
              <dt>Agent</dt>
              <dd>{task.agentId ?? '–'}</dd>
            </div>
            <div>
              <dt>Depends on</dt>
              <dd>
                {task.spec.dependsOn?.length
                  ? task.spec.dependsOn.map((d, i) => (
                      <span key={d}>
                        {i > 0 && ', '}
                        <a href={href('batches', batchId, 'tasks', d)}>{d}</a>
                      </span>
                    ))
                  : 'nothing'}
              </dd>
            </div>
            <div>
              <dt>Tokens</dt>
              <dd>{tokenBreakdown(task.usage)}</dd>
            </div>
            <div>
              <dt>Cost</dt>
              <dd>{usd(task.costUsd)}</dd>
            </div>
          </dl>
          {task.reason && <p class="reason-line">{task.reason}</p>}
          <ApprovalPanel api={api} task={task} onDecided={reload} />
          <h2>Why this agent</h2>
          <WhyThisAgent task={task} />
          <h2>Attempts</h2>
          {task.attempts.length === 0 ? (
            <p class="note">No attempt yet.</p>
          ) : (
            <Table
              columns={['#', 'Agent', 'Status', 'Started', 'Duration', 'Tokens', 'Cost', 'Error', 'Context']}
            >
              {task.attempts.map((a, i) => (
                <tr key={`${i}-${a.agentId}`}>
                  <th scope="row">{i + 1}</th>
                  <td>{a.agentId}</td>
                  <td>
                    <StatusBadge status={a.status} />
                  </td>
                  <td>{time(a.startedAt)}</td>
                  <td>{ms(a.durationMs)}</td>
                  <td>{tokens(a.usage)}</td>
                  <td>{a.usage ? usd(a.costUsd) : '–'}</td>
                  <td class="error-cell">{a.error ?? ''}</td>
                  <td>
                    {a.context
                      ? `${a.context.usedBytes.toLocaleString()} of ${a.context.budgetBytes.toLocaleString()} bytes from ${a.context.items.length + (a.context.unlisted?.count ?? 0)} task(s)`
                      : '–'}
                  </td>
                </tr>
              ))}
            </Table>
          )}
          {task.approvals && task.approvals.length > 0 && (
            <>
              <h2>Approvals</h2>
              <ul className="approvals">
                {task.approvals.map((a) => (
                  <li key={`${a.stage}-${a.at}`}>
                    {a.stage === 'before' ? 'before dispatch' : `output of attempt ${a.attempt ?? '?'}`}:{' '}
                    {a.decision === 'approve' ? 'approved' : 'rejected'} by {a.by}
                    {a.caller ? ` (${callerText(a.caller)})` : ''}
                    {a.simulated ? ' (simulated verdict)' : ''} at {time(a.at)}
                    {a.comment ? `: ${a.comment}` : ''}
                  </li>
                ))}
              </ul>
            </>
          )}
          {task.reviewFailures && task.reviewFailures.length > 0 && (
            <>
              <h2>Reviews without a verdict</h2>
              <ul className="review-failures">
                {task.reviewFailures.map((f) => (
                  <li key={`${f.by}-${f.at}`}>
                    output of attempt {f.attempt}: {f.by} gave no verdict at {time(f.at)}: {f.error}
                  </li>
                ))}
              </ul>
            </>
          )}
          <h2>Output</h2>
          <Output api={api} task={task} />
        </>
      )}
    </section>
  );
}
