/**
 * The Lambda functions of a synthesized template as a handler sees them: which handler entry each runs (its
 * `meta-agent:handler` tag), the environment it gets, and the IAM statements of its role.
 */
import { createServer } from 'node:net';
import { HANDLER_TAG } from '../../infra/constructs/handler-function';
import { resolveIntrinsics } from '../../infra/local-definition';

export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

export interface TemplateFunction {
  readonly logicalId: string;
  readonly handler: string;
  /** Environment as synthesized (values may be intrinsics). */
  readonly env: Readonly<Record<string, unknown>>;
  readonly statements: readonly Statement[];
}

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

/** Logical ids a value refers to (`Ref`, `Fn::GetAtt`), pseudo parameters left out. */
export function referencedIds(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) referencedIds(v, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'Ref' && typeof v === 'string' && !v.startsWith('AWS::')) out.add(v);
      else if (key === 'Fn::GetAtt' && Array.isArray(v)) out.add(String(v[0]));
      else referencedIds(v, out);
    }
  }
  return out;
}

/**
 * Functions CDK itself adds (logical id prefixes): BucketDeployment's handler copies the dashboard's files at
 * deploy time. They run aws-cdk-lib's code, not a handler of functions/, so they carry no handler tag.
 */
export const CDK_PROVIDED_FUNCTIONS: readonly string[] = ['CustomCDKBucketDeployment'];

/** Every function of the template running a handler of functions/; throws for one without the handler tag. */
export function templateFunctions(templateJson: { Resources: Resources }): TemplateFunction[] {
  const resources = templateJson.Resources;
  const policies = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy');
  return Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
    .filter(([logicalId]) => !CDK_PROVIDED_FUNCTIONS.some((prefix) => logicalId.startsWith(prefix)))
    .map(([logicalId, r]) => {
      const props = r.Properties ?? {};
      const tags = (props.Tags ?? []) as { Key: string; Value: string }[];
      const handler = tags.find((t) => t.Key === HANDLER_TAG)?.Value;
      if (handler === undefined) throw new Error(`function ${logicalId} has no ${HANDLER_TAG} tag`);
      const roleId = [...referencedIds(props.Role)][0];
      const role = roleId ? resources[roleId] : undefined;
      const inline = (
        (role?.Properties?.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]
      ).flatMap((p) => p.PolicyDocument.Statement);
      const attached = policies
        .filter((p) => referencedIds(p.Properties?.Roles).has(roleId ?? ''))
        .flatMap(
          (p) => (p.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ?? [],
        );
      const env = ((props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
        {}) as Record<string, unknown>;
      return { logicalId, handler, env, statements: [...inline, ...attached] };
    });
}

/** The environment with every intrinsic resolved to a plain local value (as the local definition does). */
export function plainEnv(
  fn: TemplateFunction,
  templateJson: { Resources: Resources },
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fn.env).map(([k, v]) => [k, String(resolveIntrinsics(v, templateJson.Resources))]),
  );
}

function actionMatches(pattern: string, action: string): boolean {
  const regex = new RegExp(`^${pattern.split('*').map(escapeRegex).join('.*')}$`, 'i');
  return regex.test(action);
}

function escapeRegex(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Whether the statements allow `action` on a resource that refers to one of `resourceIds` (any resource when
 * `resourceIds` is undefined).
 */
export function allows(
  statements: readonly Statement[],
  action: string,
  resourceIds?: ReadonlySet<string>,
): boolean {
  return statements.some((st) => {
    if (st.Effect !== 'Allow') return false;
    if (![st.Action].flat().some((a) => actionMatches(a, action))) return false;
    if (resourceIds === undefined) return true;
    return [st.Resource].flat().some((r) => {
      const ids = referencedIds(r);
      return [...resourceIds].some((id) => ids.has(id));
    });
  });
}

/** A 127.0.0.1 port nothing listens on (bound, then released), for AWS_ENDPOINT_URL in load checks. */
export async function unusedLoopbackPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** What a handler gets besides its template environment when loaded off AWS: a region and fake credentials. */
export function offlineAwsEnv(port: number): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIAOFFLINETEST00000',
    AWS_SECRET_ACCESS_KEY: 'offline-test-secret',
    // Every SDK client would call this port, where nothing listens: nothing leaves the machine.
    AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
  };
}
