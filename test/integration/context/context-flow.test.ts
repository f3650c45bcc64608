/**
 * Work passed along the edges, on the embedded runtime with real provider executors pointed at a local
 * stand-in that speaks the Anthropic Messages API and OpenAI's Chat Completions and records every request:
 * each dependent's request holds its dependencies' outputs in dependency order, `context: "none"` holds none,
 * placeholders are replaced, and a 1 MiB output reaches its dependent as an excerpt naming the whole artifact,
 * within the budget.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveRoles } from '../../../shared/domain/roles';
import type { BatchResult, TaskResult } from '../../../shared/domain/schemas';
import { utf8Length } from '../../../shared/domain/utf8';
import { main } from '../../../shared/local/cli/main';
import { EmbeddedSystem } from '../../../shared/local/system';
import { fakeIO } from '../../support/fake-io';
import { anthropicText, anthropicToolUse, openaiText, taskOf } from '../../support/provider-replies';
import {
  type FakeProvider,
  type RecordedRequest,
  type Reply,
  startFakeProvider,
} from '../../unit/executors/fake-provider';

const MIB = 1024 * 1024;
/** The 1 MiB answer of task `generate`: numbered lines, so an excerpt shows where it stops. */
const BIG_TEXT = Array.from({ length: 40_000 }, (_, i) => `generated line ${String(i).padStart(6, '0')}\n`)
  .join('')
  .padEnd(MIB, 'z');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** What each task's agent answers (the stand-in finds the task id in the prompt). */
const ANSWERS = {
  schema: 'CREATE TABLE users (id uuid primary key, email text unique); -- SCHEMA-MARK',
  api: 'def login(email, password): ...  # API-MARK',
  tests: 'def test_login(): ...  # TESTS-MARK',
  review: 'No findings. REVIEW-MARK',
  docs: 'Login docs. DOCS-MARK',
  generate: BIG_TEXT,
  digest: 'Digest of the generated code. DIGEST-MARK',
} as const;

/** The prompt (the user message) a recorded request carried. */
function promptOf(request: RecordedRequest): string {
  const body = JSON.parse(request.body) as { messages: { role: string; content: unknown }[] };
  const content = body.messages.find((m) => m.role === 'user')?.content;
  return typeof content === 'string' ? content : JSON.stringify(content);
}

/** The structured output the stand-in gives task `plan`: misfitting until its third request. */
const PLAN_SCHEMA = {
  type: 'object',
  properties: { steps: { type: 'array', items: { type: 'string' }, minItems: 1 } },
  required: ['steps'],
  additionalProperties: false,
};
let planRequests = 0;

function reply(request: RecordedRequest): Reply {
  if ((JSON.parse(request.body) as { tools?: unknown }).tools) {
    planRequests++;
    // The first attempt misfits twice (its answer and the re-ask's); the next attempt fits.
    const steps = planRequests <= 2 ? 'design, then build' : ['design', 'build'];
    return anthropicToolUse('submit_output', { steps }, `toolu_${planRequests}`);
  }
  const text = (ANSWERS as Record<string, string>)[taskOf(request)] ?? 'ok';
  return request.url.endsWith('/chat/completions') ? openaiText(text) : anthropicText(text);
}

let provider: FakeProvider;
let system: EmbeddedSystem;
let secretsDir: string;
let secretsFile: string;

beforeAll(async () => {
  provider = await startFakeProvider((_n, request) => reply(request));
  secretsDir = await mkdtemp(join(tmpdir(), 'meta-agent-context-'));
  const secrets = join(secretsDir, 'secrets.json');
  secretsFile = secrets;
  await writeFile(secrets, JSON.stringify({ anthropic: 'sk-ant-test', openai: 'sk-openai-test' }), {
    mode: 0o600,
  });
  const catalog = [...resolveRoles().keys()];
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    // Every role calls the Anthropic stand-in, the database designer OpenAI's.
    roles: catalog.map((name) => ({
      name,
      defaults: {
        executor:
          name === 'database_designer'
            ? { name: 'openai', model: 'gpt-test' }
            : { name: 'anthropic', model: 'claude-test' },
      },
    })),
    env: {
      ANTHROPIC_BASE_URL: provider.url,
      OPENAI_BASE_URL: `${provider.url}/v1`,
      META_AGENT_SECRETS_FILE: secrets,
    },
  });
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await provider?.close();
  await rm(secretsDir, { recursive: true, force: true });
});

async function run(batch: { batchId: string; tasks: unknown[] }): Promise<BatchResult> {
  await system.submit(batch);
  return system.waitForBatch(batch.batchId);
}

/** The request the stand-in received for `taskId` (the last one, for a retried task). */
function requestOf(taskId: string): RecordedRequest {
  const found = provider.requests.filter((r) => taskOf(r) === taskId).at(-1);
  if (!found) throw new Error(`no request for ${taskId}`);
  return found;
}

describe('work passed along the edges', () => {
  let result: BatchResult;
  beforeAll(async () => {
    result = await run({
      batchId: 'edges',
      tasks: [
        { id: 'schema', description: 'Design the PostgreSQL users table', role: 'database_designer' },
        {
          id: 'api',
          description: 'Write the FastAPI login endpoint',
          role: 'python_backend_coder',
          dependsOn: ['schema'],
        },
        {
          id: 'tests',
          description: 'Write the tests of the login endpoint',
          role: 'test_generator',
          dependsOn: ['api'],
          context: ['api', 'schema'],
        },
        {
          id: 'review',
          description: 'Audit the login flow',
          role: 'security_auditor',
          dependsOn: ['api'],
          context: 'none',
        },
        {
          id: 'docs',
          description: 'Document this endpoint: {{deps.api.output}}',
          role: 'documentation_writer',
          dependsOn: ['api'],
          context: 'none',
          input: { schema: '{{deps.schema.output}}' },
        },
      ],
    });
  }, 120_000);

  it('runs every task on its provider', () => {
    expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
      ['schema', 'SUCCEEDED'],
      ['api', 'SUCCEEDED'],
      ['tests', 'SUCCEEDED'],
      ['review', 'SUCCEEDED'],
      ['docs', 'SUCCEEDED'],
    ]);
    expect(requestOf('schema').url).toBe('/v1/chat/completions');
    expect(requestOf('api').url).toBe('/v1/messages');
  });

  it("puts each dependency's output, its id, role and agent in the dependent's request", () => {
    const prompt = promptOf(requestOf('api'));
    const schema = result.tasks.find((t) => t.id === 'schema') as TaskResult;

    expect(prompt).toContain(
      `--- schema (role database_designer, agent ${schema.agentId}) ---\n${ANSWERS.schema}`,
    );
  });

  it('passes the listed tasks (an ancestor too) in dependency order', () => {
    const prompt = promptOf(requestOf('tests'));

    expect(prompt).toContain(ANSWERS.schema);
    expect(prompt).toContain(ANSWERS.api);
    expect(prompt.indexOf(ANSWERS.schema)).toBeLessThan(prompt.indexOf(ANSWERS.api));
  });

  it('sends no dependency output with context "none"', () => {
    const prompt = promptOf(requestOf('review'));

    expect(prompt).not.toContain('SCHEMA-MARK');
    expect(prompt).not.toContain('API-MARK');
    expect(prompt).not.toContain('Work from the tasks');
  });

  it('replaces placeholders in the description and the input', () => {
    const prompt = promptOf(requestOf('docs'));

    expect(prompt).toContain(`Document this endpoint: ${ANSWERS.api}`);
    expect(prompt).toContain(`Input: {"schema":${JSON.stringify(ANSWERS.schema)}}`);
    expect(prompt).not.toContain('{{deps.');
  });

  it('records what each attempt was given', () => {
    const tests = result.tasks.find((t) => t.id === 'tests') as TaskResult;

    expect(tests.attempts[0]?.context?.items.map((i) => [i.taskId, i.kind, i.cut])).toEqual([
      ['schema', 'passed', false],
      ['api', 'passed', false],
    ]);
  });
});

describe('a 1 MiB output', () => {
  const BUDGET = 20_000;
  let result: BatchResult;
  beforeAll(async () => {
    result = await run({
      batchId: 'large',
      tasks: [
        { id: 'generate', description: 'Generate the client library', role: 'typescript_frontend_agent' },
        {
          id: 'digest',
          description: 'Summarize the generated library',
          role: 'technical_writer',
          dependsOn: ['generate'],
          contextBudgetBytes: BUDGET,
        },
      ],
    });
  }, 120_000);

  it('is kept whole as an artifact and returned whole, with the sha256 of what the provider sent', async () => {
    const generate = result.tasks.find((t) => t.id === 'generate') as TaskResult;
    const whole = JSON.parse(await system.output('large', 'generate')) as { text: string };

    expect(generate.status).toBe('SUCCEEDED');
    expect(generate.outputRef?.location).toMatch(/^s3:\/\//);
    expect(sha256(whole.text)).toBe(sha256(BIG_TEXT));
  });

  it("reaches its dependent as an excerpt with the artifact's location, size and sha256, within the budget", () => {
    const generate = result.tasks.find((t) => t.id === 'generate') as TaskResult;
    const ref = generate.outputRef;
    const prompt = promptOf(requestOf('digest'));
    const section = prompt.slice(prompt.indexOf('Work from the tasks'), prompt.indexOf('Deliver:'));

    expect(section).toContain('generated line 000000\ngenerated line 000001\n');
    expect(section).toContain(
      `the whole output: ${ref?.location} (${ref?.bytes} bytes, sha256 ${ref?.sha256})]`,
    );
    expect(utf8Length(section)).toBeLessThanOrEqual(BUDGET);
    expect(utf8Length(section)).toBeGreaterThan(BUDGET * 0.9);
    expect(utf8Length(prompt)).toBeLessThan(BUDGET + 2_000);
    const digest = result.tasks.find((t) => t.id === 'digest') as TaskResult;
    expect(digest.attempts[0]?.context).toMatchObject({
      budgetBytes: BUDGET,
      items: [{ taskId: 'generate', cut: true }],
    });
  });
});

describe('a structured output', () => {
  let result: BatchResult;
  beforeAll(async () => {
    result = await run({
      batchId: 'structured',
      tasks: [
        {
          id: 'plan',
          description: 'Plan the login feature',
          role: 'system_architect',
          outputSchema: PLAN_SCHEMA,
        },
        {
          id: 'build',
          description: 'Implement the step {{deps.plan.output.steps[0]}} first',
          role: 'python_backend_coder',
          dependsOn: ['plan'],
          context: 'none',
        },
      ],
    });
  }, 120_000);

  it('asks the model for the schema with a forced tool, and fails an attempt that misfits after its re-ask', () => {
    const plan = result.tasks.find((t) => t.id === 'plan') as TaskResult;
    const planCalls = provider.requests.filter((r) => taskOf(r) === 'plan');

    expect(JSON.parse(planCalls[0]?.body ?? '{}')).toMatchObject({
      tools: [{ name: 'submit_output', input_schema: PLAN_SCHEMA }],
      tool_choice: { type: 'tool', name: 'submit_output' },
    });
    expect(planCalls).toHaveLength(3);
    expect(plan.attempts.map((a) => a.status)).toEqual(['FAILED', 'SUCCEEDED']);
    expect(plan.attempts[0]?.error).toContain('OutputSchemaError');
    expect(plan.attempts[0]?.error).toContain('the output at /steps must be array');
  });

  it('succeeds on another agent, and a dependent reads one field of it', () => {
    const plan = result.tasks.find((t) => t.id === 'plan') as TaskResult;

    expect(plan.status).toBe('SUCCEEDED');
    expect(plan.attempts[0]?.agentId).not.toBe(plan.attempts[1]?.agentId);
    expect(plan.output).toEqual({ steps: ['design', 'build'] });
    expect(promptOf(requestOf('build'))).toContain('Implement the step design first');
  });
});

describe('meta-agent run --out with a provider', () => {
  it("writes a 1 MiB answer whole to a file, with the sha256 of the provider's text", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meta-agent-out-'));
    const saved = { base: process.env.ANTHROPIC_BASE_URL, secrets: process.env.META_AGENT_SECRETS_FILE };
    try {
      const batch = join(dir, 'batch.json');
      const config = join(dir, 'config.json');
      await writeFile(
        batch,
        JSON.stringify({
          batchId: 'out-cli',
          tasks: [
            { id: 'generate', description: 'Generate the client library', role: 'typescript_frontend_agent' },
          ],
        }),
      );
      await writeFile(
        config,
        JSON.stringify({
          roles: [
            {
              name: 'typescript_frontend_agent',
              defaults: { executor: { name: 'anthropic', model: 'claude-sonnet-5-5' } },
            },
          ],
        }),
      );
      process.env.ANTHROPIC_BASE_URL = provider.url;
      process.env.META_AGENT_SECRETS_FILE = secretsFile;

      const code = await main(['run', batch, '--config', config, '--out', join(dir, 'out')], fakeIO());

      expect(code).toBe(0);
      const text = await readFile(join(dir, 'out', 'generate.output.txt'), 'utf8');
      expect(Buffer.byteLength(text)).toBe(MIB);
      expect(sha256(text)).toBe(sha256(BIG_TEXT));
    } finally {
      for (const [name, value] of [
        ['ANTHROPIC_BASE_URL', saved.base],
        ['META_AGENT_SECRETS_FILE', saved.secrets],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
