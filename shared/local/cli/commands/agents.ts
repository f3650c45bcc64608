/**
 * `meta-agent agents [--json] [--config FILE] [--url URL [--api-key KEY]]`.
 *
 * Without `--url` there is no running system to ask, so it prints the default pool: every role template
 * of the catalog (capacity, min/max agents, queue concurrency, executor, timeout, idle TTL), which is what
 * the router spawns from. With `--url` it calls GET /agents on a running API (`meta-agent serve`, or the
 * deployed API Gateway stage with its key) and prints each agent's role, status, load, success rate,
 * latency and circuit.
 */
import { parseArgs } from 'node:util';
import type { RoleCatalog } from '../../../domain/roles';
import type { AgentView } from '../../../usecases/agents';
import { CliUsageError } from '../errors';
import { type CliIO, type Command, ExitCode } from '../io';
import { loadRoleCatalog } from '../load';
import { API_KEY_ENV, RemoteApi, RemoteApiError, remoteTarget } from '../remote';

export { API_KEY_ENV, RemoteApiError };

const PERCENT = 100;

const HELP = `Usage: meta-agent agents [--json] [--config FILE] [--url URL [--api-key KEY]]

Without --url: the default agent pool, one template per role (what the router spawns from):
capacity, min/max agents, queue concurrency, executor, timeout and idle TTL.
With --url: the live agents of a running API (GET URL/agents): role, status, reserved/capacity,
success rate, latency and circuit state.

Options:
  --json          print JSON instead of a table
  --config FILE   JSON file { "roles": [...] } adding or overriding roles (default pool only)
  --url URL       base URL of a running API (meta-agent serve, or the deployed stage URL)
  --api-key KEY   API key for --url (default: $${API_KEY_ENV})
  -h, --help      show this help
`;

export interface RoleTemplateView {
  role: string;
  capacity: number;
  minAgents: number;
  maxAgents: number;
  queueConcurrency: number;
  executor: string;
  timeoutSeconds: number;
  idleTtlSeconds: number;
}

/** The default pool: one template per catalog role, sorted by role name. */
export function roleTemplates(catalog: RoleCatalog): RoleTemplateView[] {
  return [...catalog.values()]
    .map((r) => ({
      role: r.name,
      capacity: r.defaults.capacity,
      minAgents: r.defaults.minAgents,
      maxAgents: r.defaults.maxAgents,
      queueConcurrency: r.defaults.queueConcurrency,
      executor: r.defaults.executor.model
        ? `${r.defaults.executor.name}:${r.defaults.executor.model}`
        : r.defaults.executor.name,
      timeoutSeconds: r.defaults.timeoutSeconds,
      idleTtlSeconds: r.defaults.idleTtlSeconds,
    }))
    .sort((a, b) => a.role.localeCompare(b.role));
}

/** Left-aligned columns with two spaces between them. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `${cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()}\n`;
  return line(header) + rows.map(line).join('');
}

function templatesTable(templates: RoleTemplateView[]): string {
  return table(
    ['role', 'capacity', 'min', 'max', 'queue', 'executor', 'timeout', 'idle ttl'],
    templates.map((t) => [
      t.role,
      String(t.capacity),
      String(t.minAgents),
      String(t.maxAgents),
      String(t.queueConcurrency),
      t.executor,
      `${t.timeoutSeconds}s`,
      `${t.idleTtlSeconds}s`,
    ]),
  );
}

/** The circuit column: open circuits say until when they keep the agent out. */
function circuitText(agent: AgentView, now: number): string {
  if (agent.circuit !== 'open' || agent.circuitOpenUntil === undefined) return agent.circuit;
  const seconds = Math.max(0, Math.ceil((agent.circuitOpenUntil - now) / 1000));
  return `open (${seconds}s)`;
}

/** The live agents as a table. */
export function agentsTable(agents: AgentView[], now: number): string {
  return table(
    ['agent', 'role', 'status', 'load', 'success', 'latency', 'circuit'],
    agents.map((a) => [
      a.agentId,
      a.role,
      a.status,
      `${a.reserved}/${a.capacity}`,
      a.successRate === undefined
        ? '-'
        : `${Math.round(a.successRate * PERCENT)}% (${a.successes}/${a.attempts})`,
      a.ewmaLatencyMs === undefined ? '-' : `${Math.round(a.ewmaLatencyMs)}ms`,
      circuitText(a, now),
    ]),
  );
}

/** GET <url>/agents with the API key; the parsed `agents` array. */
export async function fetchAgents(baseUrl: string, apiKey: string | undefined): Promise<AgentView[]> {
  const api = new RemoteApi(baseUrl, apiKey);
  const body = await api.expect('GET', '/agents', [200]);
  const agents = (body as { agents?: unknown } | undefined)?.agents;
  if (!Array.isArray(agents))
    throw new RemoteApiError(`GET ${api.baseUrl}/agents answered no "agents" array`);
  return agents as AgentView[];
}

export const command: Command = async (argv, io: CliIO) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      config: { type: 'string' },
      url: { type: 'string' },
      'api-key': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout(HELP);
    return ExitCode.Ok;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"\n\n${HELP}`);
  const target = remoteTarget({ url: values.url, apiKey: values['api-key'] }, io.env);
  if (target === undefined) {
    if (values['api-key'] !== undefined) throw new CliUsageError(`--api-key needs --url\n\n${HELP}`);
    const templates = roleTemplates(await loadRoleCatalog(values.config, io));
    io.stdout(values.json ? `${JSON.stringify({ roles: templates }, null, 2)}\n` : templatesTable(templates));
    return ExitCode.Ok;
  }
  if (values.config !== undefined) {
    throw new CliUsageError(`--config applies to the default pool, not to --url\n\n${HELP}`);
  }
  const agents = await fetchAgents(target.url, target.apiKey);
  if (values.json) io.stdout(`${JSON.stringify({ agents }, null, 2)}\n`);
  else if (agents.length === 0) io.stdout('no agents yet: the router spawns them on the first tasks\n');
  else io.stdout(agentsTable(agents, Date.now()));
  return ExitCode.Ok;
};
