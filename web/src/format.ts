/** Small formatting helpers shared by the views. */
import type { ApprovalCaller, Usage } from '../../shared/domain/schemas';

export function ms(value: number | undefined): string {
  if (value === undefined) return '–';
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60_000) return `${(value / 1000).toFixed(1)} s`;
  return `${Math.floor(value / 60_000)} min ${Math.round((value % 60_000) / 1000)} s`;
}

export function usd(value: number | null | undefined): string {
  if (value === undefined) return '–';
  if (value === null) return 'unknown price';
  if (value === 0) return '$0';
  if (value < 0.000001) return '<$0.000001';
  return `$${value < 0.01 ? value.toFixed(6) : value.toFixed(value < 1 ? 4 : 2)}`;
}

/** Tokens of every kind together, `(simulated)` when the simulated executor counted them. */
export function tokens(usage: Usage | undefined): string {
  if (!usage) return '–';
  const total =
    usage.inputTokens + usage.outputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0);
  return `${total.toLocaleString()}${usage.simulated ? ' (simulated)' : ''}`;
}

/** Usage split by kind: `1,200 in, 340 out, 5,000 cache read`. */
export function tokenBreakdown(usage: Usage | undefined): string {
  if (!usage) return '–';
  const parts = [`${usage.inputTokens.toLocaleString()} in`, `${usage.outputTokens.toLocaleString()} out`];
  if (usage.cacheReadTokens) parts.push(`${usage.cacheReadTokens.toLocaleString()} cache read`);
  if (usage.cacheWriteTokens) parts.push(`${usage.cacheWriteTokens.toLocaleString()} cache write`);
  return `${parts.join(', ')}${usage.simulated ? ' (simulated)' : ''}`;
}

export function time(epochMs: number | undefined): string {
  return epochMs === undefined ? '–' : new Date(epochMs).toLocaleString();
}

export function percent(value: number | undefined): string {
  return value === undefined ? '–' : `${Math.round(value * 100)}%`;
}

export const term = (value: number) => value.toFixed(2);

/** A route of the page: `#/batches/b-1/tasks/t`. */
export const href = (...parts: string[]) => `#/${parts.map(encodeURIComponent).join('/')}`;

/** Who sent a decision, as the API established it ('' when it knows nothing): "API key abc, from 1.2.3.4". */
export function callerText(caller: ApprovalCaller | undefined): string {
  if (!caller) return '';
  const parts = [
    caller.userArn,
    caller.cognitoSub === undefined ? undefined : `Cognito user ${caller.cognitoSub}`,
    caller.principalId === undefined ? undefined : `principal ${caller.principalId}`,
    caller.apiKeyId === undefined ? undefined : `API key ${caller.apiKeyId}`,
    caller.sourceIp === undefined ? undefined : `from ${caller.sourceIp}`,
  ].filter((p): p is string => p !== undefined);
  return parts.join(', ');
}
