/**
 * What each handler module needs from its deployment, read from the source with the TypeScript compiler:
 * - the environment variables it requires: the Container members (shared/adapters/wiring.ts) it touches and
 *   the `requireEnv(EnvVar.X)` / `env[EnvVar.X]` reads of those members' getters, plus its own reads;
 * - the AWS actions it may call: the port methods (TaskStore.getBatch, ...) reachable from the handler
 *   module through the use cases, and for each the SDK commands (`new XxxCommand(...)`) the wired adapter's
 *   method sends, following the adapter's own helpers; plus what the function-valued members it touches
 *   (`executorFor`) reach.
 * Each AWS action comes with the variable that names its resource (e.g. dynamodb:UpdateItem with
 * AGENTS_TABLE_NAME), so a test can check the grant is on the right resource.
 */
import { readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { EnvVar } from '../../shared/config';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FUNCTIONS_DIR = join(REPO_ROOT, 'functions');
const WIRING = join(REPO_ROOT, 'shared', 'adapters', 'wiring.ts');

/** Utility types whose result is a view of their first argument's members. */
const MAPPED_VIEWS: ReadonlySet<string> = new Set(['Pick', 'Omit', 'Partial', 'Required', 'Readonly']);

export interface AwsAction {
  /** IAM action, e.g. `dynamodb:UpdateItem`. */
  readonly action: string;
  /** Variable whose value names the resource (a table name, the state machine ARN), when there is one. */
  readonly resourceVar?: string;
  /** Where it comes from, for failure messages: `TaskStore.setTaskStatus` or a file. */
  readonly via: string;
}

export interface HandlerNeeds {
  readonly handler: string;
  /** Variables the handler cannot load or run without. */
  readonly requiredEnv: ReadonlySet<string>;
  /** Variables it reads when present. */
  readonly optionalEnv: ReadonlySet<string>;
  readonly containerMembers: ReadonlySet<string>;
  readonly actions: readonly AwsAction[];
}

/** IAM actions of the DynamoDB document client's commands (the low-level client's are named like the action). */
const DOCUMENT_CLIENT_ACTIONS: Readonly<Record<string, string>> = {
  GetCommand: 'GetItem',
  PutCommand: 'PutItem',
  UpdateCommand: 'UpdateItem',
  DeleteCommand: 'DeleteItem',
  BatchGetCommand: 'BatchGetItem',
  BatchWriteCommand: 'BatchWriteItem',
  TransactGetCommand: 'TransactGetItems',
  TransactWriteCommand: 'TransactWriteItems',
};

/** IAM service prefix of each SDK package whose commands adapters send. */
const SERVICE_OF_PACKAGE: Readonly<Record<string, string>> = {
  '@aws-sdk/lib-dynamodb': 'dynamodb',
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/client-sfn': 'states',
  '@aws-sdk/client-sqs': 'sqs',
  '@aws-sdk/client-bedrock-runtime': 'bedrock',
  '@aws-sdk/client-secrets-manager': 'secretsmanager',
  '@aws-sdk/client-ssm': 'ssm',
  '@aws-sdk/client-lambda': 'lambda',
  '@aws-sdk/client-apigatewaymanagementapi': 'execute-api',
  '@aws-sdk/client-s3': 's3',
};

/** Commands whose IAM action is not their name. */
const SPECIAL_ACTIONS: Readonly<Record<string, string>> = {
  // API Gateway management calls are all authorized as execute-api:ManageConnections.
  'execute-api:PostToConnectionCommand': 'execute-api:ManageConnections',
  'execute-api:DeleteConnectionCommand': 'execute-api:ManageConnections',
  'execute-api:GetConnectionCommand': 'execute-api:ManageConnections',
  // Bedrock's Converse APIs are authorized as InvokeModel / InvokeModelWithResponseStream.
  'bedrock:ConverseCommand': 'bedrock:InvokeModel',
  'bedrock:ConverseStreamCommand': 'bedrock:InvokeModelWithResponseStream',
  // HeadObject and ranged reads are authorized as GetObject.
  's3:HeadObjectCommand': 's3:GetObject',
};

/** The IAM action of an SDK command class imported from `pkg`, or undefined for a package we do not map. */
export function iamActionOf(pkg: string, command: string): string | undefined {
  const service = SERVICE_OF_PACKAGE[pkg];
  if (service === undefined) return undefined;
  const special = SPECIAL_ACTIONS[`${service}:${command}`];
  if (special) return special;
  if (pkg === '@aws-sdk/lib-dynamodb' && DOCUMENT_CLIENT_ACTIONS[command]) {
    return `dynamodb:${DOCUMENT_CLIENT_ACTIONS[command]}`;
  }
  return `${service}:${command.replace(/Command$/, '')}`;
}

const envVarByKey = EnvVar as Readonly<Record<string, string>>;

/** Handler entries: functions/<name>.ts. */
export function handlerNames(): string[] {
  return readdirSync(FUNCTIONS_DIR)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();
}

interface WiredMember {
  readonly requiredEnv: Set<string>;
  readonly optionalEnv: Set<string>;
  /** Function-valued members (`executorFor`): their initializer, walked like handler code. */
  readonly initializer?: ts.Node;
}

interface WiredPort {
  readonly member: string;
  readonly adapter: ts.ClassDeclaration;
}

/** Builds one program over every handler and analyses them all (a few seconds: it is type-checked code). */
export class HandlerAnalysis {
  private readonly program: ts.Program;
  private readonly checker: ts.TypeChecker;
  private readonly members = new Map<string, WiredMember>();
  /** Port interface name -> the container member and adapter class that implement it. */
  private readonly ports = new Map<string, WiredPort>();

  constructor() {
    const config = ts.getParsedCommandLineOfConfigFile(
      join(REPO_ROOT, 'tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        },
      },
    );
    if (!config) throw new Error('cannot read tsconfig.json');
    const roots = handlerNames().map((h) => join(FUNCTIONS_DIR, `${h}.ts`));
    this.program = ts.createProgram({ rootNames: [...roots, WIRING], options: config.options });
    this.checker = this.program.getTypeChecker();
    this.readWiring();
  }

  /** Everything `functions/<handler>.ts` needs. */
  needs(handler: string): HandlerNeeds {
    const file = this.sourceFile(join(FUNCTIONS_DIR, `${handler}.ts`));
    const requiredEnv = new Set<string>();
    const optionalEnv = new Set<string>();
    const containerMembers = new Set<string>();
    const portCalls = new Set<string>();
    const actions: AwsAction[] = [];
    const walk = (root: ts.Node, allowAdapters: boolean, visited = new Set<ts.Node>()): void => {
      const visit = (node: ts.Node): void => {
        this.readEnv(node, requiredEnv, optionalEnv);
        // `const { taskStore } = container` touches the member as surely as `container.taskStore`.
        if (ts.isVariableDeclaration(node) && ts.isObjectBindingPattern(node.name) && node.initializer) {
          if (this.typeName(node.initializer) === 'Container') {
            for (const element of node.name.elements) {
              containerMembers.add((element.propertyName ?? element.name).getText());
            }
          }
        }
        if (ts.isPropertyAccessExpression(node)) {
          const owner = this.typeName(node.expression);
          if (owner === 'Container') containerMembers.add(node.name.text);
          if (owner !== undefined && this.ports.has(owner)) portCalls.add(`${owner}.${node.name.text}`);
        }
        if (ts.isNewExpression(node)) {
          const action = this.commandAction(node);
          if (action) actions.push({ action, via: relative(REPO_ROOT, node.getSourceFile().fileName) });
        }
        if (ts.isIdentifier(node) || ts.isPropertyAccessExpression(node)) {
          for (const decl of this.repoCode(node, allowAdapters)) {
            if (!visited.has(decl)) {
              visited.add(decl);
              walk(decl, allowAdapters, visited);
            }
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(root);
    };

    // The handler module and the use cases it reaches; the wiring's own code is read separately (below), so
    // building the container does not count as calling every adapter.
    walk(file, false);
    for (const member of containerMembers) {
      const wired = this.members.get(member);
      if (!wired) continue;
      for (const name of wired.requiredEnv) requiredEnv.add(name);
      for (const name of wired.optionalEnv) optionalEnv.add(name);
      if (wired.initializer) walk(wired.initializer, true);
    }
    for (const name of requiredEnv) optionalEnv.delete(name);

    // Each port method called: the commands its adapter method sends (through the adapter's own helpers).
    // A Set iterates over what is added while iterating, so port calls found inside adapters count too.
    for (const call of portCalls) {
      const [port = '', method = ''] = call.split('.');
      const wired = this.ports.get(port);
      const member = wired?.adapter.members.find(
        (m): m is ts.MethodDeclaration => ts.isMethodDeclaration(m) && m.name.getText() === method,
      );
      if (!wired || !member) continue;
      const resourceVar = [...(this.members.get(wired.member)?.requiredEnv ?? [])][0];
      const before = actions.length;
      walk(member, true);
      for (let i = before; i < actions.length; i++) {
        const a = actions[i];
        if (a) actions[i] = { action: a.action, via: call, ...(resourceVar ? { resourceVar } : {}) };
      }
    }
    return { handler, requiredEnv, optionalEnv, containerMembers, actions };
  }

  private sourceFile(path: string): ts.SourceFile {
    const file = this.program.getSourceFile(path);
    if (!file) throw new Error(`${path} is not in the program`);
    return file;
  }

  /**
   * The name of the (apparent) type of `expr`: `Container`, `TaskStore`, ... A mapped view of a type
   * (`Pick<Callbacks, 'succeed'>`, `Partial<RouteDeps>`) is named after the type it maps, so a port reached
   * through one is still seen.
   */
  private typeName(expr: ts.Expression): string | undefined {
    const type = this.checker.getTypeAtLocation(expr);
    const mapped = type.aliasSymbol && MAPPED_VIEWS.has(type.aliasSymbol.getName());
    const target = mapped ? type.aliasTypeArguments?.[0] : undefined;
    if (target) return (target.aliasSymbol ?? target.getSymbol())?.getName();
    return (type.aliasSymbol ?? type.getSymbol())?.getName();
  }

  /** `requireEnv(EnvVar.X)` is required; `env[EnvVar.X]` / `process.env[EnvVar.X]` is optional. */
  private readEnv(node: ts.Node, required: Set<string>, optional: Set<string>): void {
    if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'requireEnv'
    ) {
      const name = this.envVarName(node.arguments[0]);
      if (name) required.add(name);
    }
    // Only reads of an environment object (`env[...]`, `process.env[...]`), not of headers or expression values.
    if (ts.isElementAccessExpression(node) && /(^|\.)env$/.test(node.expression.getText())) {
      const name = this.envVarName(node.argumentExpression);
      if (name) optional.add(name);
    }
  }

  private envVarName(expr: ts.Expression | undefined): string | undefined {
    if (expr === undefined) return undefined;
    if (ts.isPropertyAccessExpression(expr) && ts.isIdentifier(expr.expression)) {
      if (expr.expression.text === 'EnvVar') return envVarByKey[expr.name.text];
      // Other modules' variable tables (SecretEnvVar, ExecutorEnvVar): resolve the constant's value.
      const type = this.checker.getTypeAtLocation(expr);
      if (type.isStringLiteral()) return type.value;
    }
    if (ts.isStringLiteral(expr)) return expr.text;
    return undefined;
  }

  /** The IAM action of `new XxxCommand(...)` when XxxCommand comes from an AWS SDK package. */
  private commandAction(node: ts.NewExpression): string | undefined {
    if (!ts.isIdentifier(node.expression) || !node.expression.text.endsWith('Command')) return undefined;
    const symbol = this.checker.getSymbolAtLocation(node.expression);
    const decl = symbol?.declarations?.[0];
    if (!decl || !ts.isImportSpecifier(decl)) return undefined;
    const pkg = (decl.parent.parent.parent.moduleSpecifier as ts.StringLiteral).text;
    return iamActionOf(pkg, (decl.propertyName ?? decl.name).text);
  }

  /**
   * Code in the repository (outside node_modules) that `node` names: a called or passed function, a method,
   * or a class (all its members: an instantiated executor's methods run later through its port). Adapters
   * and the wiring only when `allowAdapters`.
   */
  private repoCode(node: ts.Identifier | ts.PropertyAccessExpression, allowAdapters: boolean): ts.Node[] {
    let symbol = this.checker.getSymbolAtLocation(node);
    if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = this.checker.getAliasedSymbol(symbol);
    const out: ts.Node[] = [];
    for (const decl of symbol?.declarations ?? []) {
      const file = decl.getSourceFile().fileName;
      if (file.includes('/node_modules/') || !file.startsWith(REPO_ROOT)) continue;
      const inAdapters = file.includes('/shared/adapters/') || file.endsWith('/functions/commons/clients.ts');
      if (inAdapters && !allowAdapters) continue;
      if (ts.isFunctionDeclaration(decl) || ts.isMethodDeclaration(decl) || ts.isClassDeclaration(decl)) {
        out.push(decl);
      } else if (ts.isVariableDeclaration(decl) && decl.initializer && ts.isFunctionLike(decl.initializer)) {
        out.push(decl.initializer);
      }
    }
    return out;
  }

  /** Reads buildContainer's returned object: each member's variables and the ports it wires. */
  private readWiring(): void {
    const file = this.sourceFile(WIRING);
    let container: ts.ObjectLiteralExpression | undefined;
    const find = (node: ts.Node): void => {
      if (ts.isFunctionDeclaration(node) && node.name?.text === 'buildContainer') {
        const visit = (n: ts.Node): void => {
          if (ts.isReturnStatement(n) && n.expression && ts.isObjectLiteralExpression(n.expression)) {
            container = n.expression;
          }
          if (!container) ts.forEachChild(n, visit);
        };
        visit(node);
      }
      if (!container) ts.forEachChild(node, find);
    };
    find(file);
    if (!container) throw new Error('buildContainer returns no object literal: update the analysis');

    for (const property of container.properties) {
      const name = property.name?.getText();
      if (!name) continue;
      const member: WiredMember = {
        requiredEnv: new Set(),
        optionalEnv: new Set(),
        ...(ts.isPropertyAssignment(property) && ts.isFunctionLike(property.initializer)
          ? { initializer: property.initializer }
          : {}),
      };
      this.members.set(name, member);
      const visit = (n: ts.Node): void => {
        this.readEnv(n, member.requiredEnv, member.optionalEnv);
        if (ts.isIdentifier(n)) {
          let symbol = this.checker.getSymbolAtLocation(n);
          if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = this.checker.getAliasedSymbol(symbol);
          const decl = symbol?.declarations?.[0];
          if (decl && ts.isClassDeclaration(decl)) {
            for (const clause of decl.heritageClauses ?? []) {
              if (clause.token !== ts.SyntaxKind.ImplementsKeyword) continue;
              for (const t of clause.types)
                this.ports.set(t.expression.getText(), { member: name, adapter: decl });
            }
          }
        }
        ts.forEachChild(n, visit);
      };
      visit(property);
    }
  }
}
