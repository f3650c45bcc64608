/**
 * Powertools logger, metrics and tracer for one handler, and a manual wrapper that does what middy
 * middlewares would: Lambda context in the logs, metrics flushed after every invocation, a traced
 * subsegment when tracing is on (only inside Lambda; elsewhere Powertools turns tracing off by itself).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';

export const SERVICE_NAME = 'meta-agent';
export const METRICS_NAMESPACE = 'MetaAgent';

export interface Observability {
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
}

/** One set per handler module; the handler name is on every log line. */
export function observability(handlerName: string): Observability {
  return {
    logger: new Logger({ serviceName: SERVICE_NAME, persistentKeys: { handler: handlerName } }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME }),
    tracer: new Tracer({ serviceName: SERVICE_NAME }),
  };
}

/** Wraps a handler: context, tracing, metric flush, and a log line for anything it throws. */
export function instrument<E, R>(
  { logger, metrics, tracer }: Observability,
  name: string,
  handle: (event: E, context?: Context) => Promise<R>,
): (event: E, context?: Context) => Promise<R> {
  return async (event, context) => {
    if (context) logger.addContext(context);
    const parent = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
    const segment = parent?.addNewSubsegment(`## ${name}`);
    if (segment) tracer.setSegment(segment);
    try {
      return await handle(event, context);
    } catch (error) {
      logger.error(`${name} failed`, error as Error);
      if (segment) segment.addError(error as Error);
      throw error;
    } finally {
      segment?.close();
      if (parent) tracer.setSegment(parent);
      // Publishing nothing only produces a warning line per invocation.
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
