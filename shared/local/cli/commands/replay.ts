/**
 * `meta-agent replay BATCH [--weights S,L,H,T] [--config FILE] --url URL [--api-key KEY] [--json]`:
 * re-scores the stored routing decisions of a batch under other score weights (or another role catalog)
 * and lists the tasks that would have gone elsewhere, and to whom (shared/domain/replay.ts). Nothing runs
 * and nothing is written: a safe way to try `routing.weights` before configuring them.
 *
 * The decisions come from GET /batches/{id}/decisions of a running API: a deployed stack's ApiUrl, or
 * `meta-agent serve`, which serves the embedded runtime's store (batches of `meta-agent run` live only as
 * long as that command; run them on `serve` to replay them).
 */
import { parseArgs } from 'node:util';
import { type ReplayReport, replayDecisions } from '../../../domain/replay';
import { resolveRoles } from '../../../domain/roles';
import { ROUTING_WEIGHTS } from '../../../domain/routing';
import { normaliseWeights, type RoutingWeights, RoutingWeightsSchema } from '../../../domain/routing-config';
import { CliUsageError } from '../errors';
import { type CliIO, type Command, ExitCode } from '../io';
import { loadConfigFile } from '../load';
import { API_KEY_ENV, API_URL_ENV, RemoteApi, remoteTarget } from '../remote';

export const USAGE = 'replay BATCH [--weights S,L,H,T] [--config FILE] --url URL [--api-key KEY] [--json]';

const HELP = `Usage: meta-agent ${USAGE}

Re-scores the stored routing decisions of BATCH (every candidate's specialization, availability, success
and speed terms as they were when the task was routed) under other weights, and lists the tasks that would
have gone to another agent or role. Nothing is run or written.

Options:
  --weights S,L,H,T  weights of specialization, load (availability), health (success) and speed,
                     e.g. 1,0,0,0 (scaled to sum 1; default: the config's routing.weights, else 0.4,0.3,0.2,0.1)
  --config FILE      JSON file { "roles"?: [...], "routing"?: { "weights": ... } }: with roles, requirements
                     are extracted again under that catalog
  --url URL          base URL of a running API: a deployed stack's ApiUrl, or meta-agent serve (whose
                     store is the embedded runtime's) (default: $${API_URL_ENV})
  --api-key KEY      its API key (default: $${API_KEY_ENV})
  --json             print the replay report as JSON
  -h, --help         show this help

Exit codes: 0 replayed, 1 the API failed (a 5xx), 2 bad input or configuration (unknown batch, wrong URL
or key, bad --weights).
`;

const WEIGHT_NAMES = ['specialization', 'availability', 'success', 'speed'] as const;

/** "1,0,0,0" -> normalised weights; CliUsageError naming the flag otherwise. */
export function parseWeights(text: string): RoutingWeights {
  const parts = text.split(',').map((p) => p.trim());
  const numbers = parts.map(Number);
  if (
    parts.length !== WEIGHT_NAMES.length ||
    parts.some((p) => p === '') ||
    numbers.some((n) => !Number.isFinite(n))
  ) {
    throw new CliUsageError(
      `--weights must be four numbers S,L,H,T (specialization, load, health, speed), e.g. 1,0,0,0; got "${text}"`,
      USAGE,
    );
  }
  const parsed = RoutingWeightsSchema.safeParse(
    Object.fromEntries(WEIGHT_NAMES.map((name, i) => [name, numbers[i]])),
  );
  if (!parsed.success) {
    throw new CliUsageError(
      `--weights "${text}": ${parsed.error.issues.map((i) => i.message).join('; ')} (each from 0 to 1000, at least one above 0)`,
      USAGE,
    );
  }
  return normaliseWeights(parsed.data);
}

const fixed = (n: number, digits = 2) => n.toFixed(digits);

/** The report as text: the weights, then one line per task that moves, then the role moves. */
export function formatReplay(batchId: string, report: ReplayReport): string {
  const w = report.weights;
  const lines = [
    `replay of batch ${batchId}: ${report.replayed} decision${report.replayed === 1 ? '' : 's'} under weights ` +
      `${WEIGHT_NAMES.map((n) => `${n} ${fixed(w[n])}`).join(', ')}` +
      (report.recatalogued ? ' and the given role catalog' : ''),
  ];
  if (report.changes.length === 0) {
    lines.push('no task would have gone elsewhere');
  } else {
    lines.push(
      `${report.changes.length} task${report.changes.length === 1 ? '' : 's'} would have gone elsewhere:`,
    );
    const rows = report.changes.map((c) => [
      c.taskId,
      `${c.stored.role} / ${c.stored.agentId} (${fixed(c.stored.score, 3)})`,
      `${c.replayed.role} / ${c.replayed.agentId} (${fixed(c.replayed.score, 3)})${c.hypothetical ? ' [fresh agent]' : ''}`,
    ]);
    const header = ['task', 'was (role / agent (score))', 'would be'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    for (const row of [header, ...rows]) {
      lines.push(
        row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      );
    }
    const moves = Object.entries(report.roleMoves);
    if (moves.length > 0) lines.push(`role moves: ${moves.map(([k, n]) => `${k} (${n})`).join(', ')}`);
  }
  for (const s of report.skipped) lines.push(`skipped ${s.taskId}: ${s.reason}`);
  return `${lines.join('\n')}\n`;
}

export const command: Command = async (argv, io: CliIO) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      weights: { type: 'string' },
      config: { type: 'string' },
      url: { type: 'string' },
      'api-key': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout(HELP);
    return ExitCode.Ok;
  }
  const batchId = positionals[0];
  if (batchId === undefined || positionals.length > 1)
    throw new CliUsageError('expected one BATCH id', USAGE);
  const weights = values.weights === undefined ? undefined : parseWeights(values.weights);
  const config = await loadConfigFile(values.config, io);
  const catalog = config.roles ? resolveRoles(config.roles) : undefined;
  const target = remoteTarget({ url: values.url, apiKey: values['api-key'] }, io.env);
  if (!target) {
    throw new CliUsageError(
      `replay reads the stored decisions of a running API: give --url (or ${API_URL_ENV}), the ApiUrl of a deployed stack or the URL meta-agent serve prints`,
      USAGE,
    );
  }
  const api = new RemoteApi(target.url, target.apiKey, io.wait);
  const stored = await api.decisions(batchId);
  if (stored.status === 'RUNNING') {
    io.stderr(`meta-agent replay: batch ${batchId} is still running; replaying the decisions made so far.\n`);
  }
  const report = replayDecisions(stored.decisions, {
    weights:
      weights ?? (config.routing?.weights ? normaliseWeights(config.routing.weights) : ROUTING_WEIGHTS),
    ...(catalog ? { catalog } : {}),
  });
  io.stdout(
    values.json ? `${JSON.stringify({ batchId, ...report }, null, 2)}\n` : formatReplay(batchId, report),
  );
  return ExitCode.Ok;
};
