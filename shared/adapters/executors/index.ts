/**
 * Executor factory: one AgentExecutor per executor config. FIRST CUT (simulated only); the providers
 * (bedrock, anthropic, openai, http) are added by the executors work behind the same signature.
 */
import type { ExecutorConfig } from '../../domain/schemas';
import type { AgentExecutor } from '../../ports';
import { SimulatedExecutor } from './simulated';

export class ExecutorConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExecutorConfigError';
  }
}

/** Returns the executor for `config`. */
export function createExecutor(config: ExecutorConfig): AgentExecutor {
  if (config.name === 'simulated') return new SimulatedExecutor();
  throw new ExecutorConfigError(`executor "${config.name}" is not available yet`);
}
