/**
 * `meta-agent route FILE [--json] [--config FILE]`: the routing decision for every task of a batch against
 * the default pool (one agent per role, fresh metrics). Nothing runs; it answers "which agent, and why".
 */
import { parseArgs } from 'node:util';
import { resolveRoles } from '../../../domain/roles';
import {
  decideRoute,
  defaultAgentPool,
  extractRequirements,
  newAgent,
  targetRole,
} from '../../../domain/routing';
import { normaliseWeights, type RoutingWeights } from '../../../domain/routing-config';
import type { RoutingDecision } from '../../../domain/schemas';
import { CliUsageError } from '../errors';
import { type CliIO, type Command, ExitCode } from '../io';
import { loadBatchFile, loadConfigFile } from '../load';

const HELP = `Usage: meta-agent route FILE [--json] [--config FILE]

Prints the routing decision of every task in FILE against the default pool (one agent per role,
fresh metrics): the role, the agent, the score and its terms
(0.40 specialization + 0.30 availability + 0.20 success + 0.10 speed). Nothing is run.

Options:
  --json          print {"decisions": [...]} with every candidate's breakdown
  --config FILE   JSON file { "roles"?: [...], "routing"?: {...} }: roles and score weights
                  (model-assisted routing is not applied here: route calls no provider)
  -h, --help      show this help
`;

/** Routes every task of `tasks` independently against a fresh default pool. */
export function routeAgainstDefaultPool(
  tasks: Parameters<typeof extractRequirements>[0][],
  catalog: ReturnType<typeof resolveRoles>,
  now: number,
  weights?: RoutingWeights,
): RoutingDecision[] {
  const pool = defaultAgentPool(catalog, now);
  return tasks.map((task) => {
    const requirements = extractRequirements(task, catalog);
    const result = decideRoute({
      task,
      requirements,
      agents: pool,
      catalog,
      exclude: new Set(),
      now,
      ...(weights ? { weights } : {}),
    });
    if (result.kind === 'route') return result.decision;
    // The default pool has one agent per role, so "none" means a role outside the pool: route to a
    // freshly spawned agent of that role, as the router would.
    const role = catalog.get(targetRole(requirements));
    if (!role) throw new Error(`no role "${result.role}" in the catalog`);
    const spawned = newAgent(role, `${role.name}-spawned`, now);
    const retry = decideRoute({
      task,
      requirements,
      agents: [spawned],
      catalog,
      exclude: new Set(),
      now,
      ...(weights ? { weights } : {}),
    });
    if (retry.kind !== 'route')
      throw new Error(`task ${task.id} cannot be routed: ${retry.rejected.map((r) => r.reason).join(', ')}`);
    return { ...retry.decision, spawned: true };
  });
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

function printTable(decisions: RoutingDecision[], io: CliIO): void {
  const idWidth = Math.max(4, ...decisions.map((d) => d.taskId.length));
  const roleWidth = Math.max(4, ...decisions.map((d) => d.role.length));
  io.stdout(
    `${pad('task', idWidth)}  ${pad('role', roleWidth)}  score  spec  avail  succ  speed  inferred from\n`,
  );
  for (const d of decisions) {
    const b = d.breakdown;
    const why = d.requirements.explicitRole
      ? 'explicit role'
      : [...d.requirements.skills, ...d.requirements.languages, ...d.requirements.frameworks]
          .slice(0, 4)
          .join(', ') || 'description';
    io.stdout(
      `${pad(d.taskId, idWidth)}  ${pad(d.role, roleWidth)}  ${d.score.toFixed(3)}  ${b.specialization.toFixed(2)}  ${b.availability.toFixed(2)}   ${b.success.toFixed(2)}  ${b.speed.toFixed(2)}   ${why}\n`,
    );
  }
}

export const command: Command = async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout(HELP);
    return ExitCode.Ok;
  }
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new CliUsageError(`expected one FILE\n\n${HELP}`);
  const config = await loadConfigFile(values.config, io);
  const catalog = resolveRoles(config.roles ?? []);
  const batch = await loadBatchFile(file, io, new Set(catalog.keys()));
  const weights = config.routing?.weights ? normaliseWeights(config.routing.weights) : undefined;
  const decisions = routeAgainstDefaultPool(batch.tasks, catalog, Date.now(), weights);
  if (values.json) io.stdout(`${JSON.stringify({ decisions }, null, 2)}\n`);
  else printTable(decisions, io);
  return ExitCode.Ok;
};
