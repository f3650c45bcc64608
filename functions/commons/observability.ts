/**
 * Powertools logger, metrics and tracer for one handler, and a manual wrapper that does what middy
 * middlewares would: Lambda context in the logs, metrics flushed after every invocation, a traced
 * subsegment when tracing is on (only inside Lambda; elsewhere Powertools turns tracing off by itself).
 */
import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { EnvVar } from '../../shared/config';

export const SERVICE_NAME = 'meta-agent';
export const METRICS_NAMESPACE = 'MetaAgent';

/** The part of the Powertools Tracer the handlers use. */
export type HandlerTracer = Pick<
  Tracer,
  'captureAWSv3Client' | 'isTracingEnabled' | 'getSegment' | 'setSegment'
>;

export interface Observability {
  logger: Logger;
  metrics: Metrics;
  tracer: HandlerTracer;
}

/**
 * Tracing is on only inside Lambda unless POWERTOOLS_TRACE_ENABLED=false (Powertools' own rule). Only then is
 * the Tracer loaded: its X-Ray SDK enables async hooks for the whole process, which cost the embedded
 * runtime about a seventh of its CPU even with tracing off.
 */
const TRACING =
  process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined && process.env.POWERTOOLS_TRACE_ENABLED !== 'false';
const TracerClass = TRACING ? (await import('@aws-lambda-powertools/tracer')).Tracer : undefined;

/** Tracing off: clients are used as they are, and there is no segment. */
const NO_TRACER: HandlerTracer = {
  captureAWSv3Client: (client) => client,
  isTracingEnabled: () => false,
  getSegment: () => undefined,
  setSegment: () => undefined,
};

/**
 * A Powertools logger whose lines go to stderr (the embedded runtime sets LOG_STREAM=stderr): its handlers
 * share the CLI's process, whose stdout carries the report. Same JSON lines as Lambda's.
 */
class StderrLogger extends Logger {
  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    process.stderr.write(`${JSON.stringify(log.getAttributes(), this.getJsonReplacer())}\n`);
  }
}

/** One set per handler module; the handler name is on every log line. */
export function observability(handlerName: string): Observability {
  const LoggerClass = process.env[EnvVar.LogStream] === 'stderr' ? StderrLogger : Logger;
  return {
    logger: new LoggerClass({ serviceName: SERVICE_NAME, persistentKeys: { handler: handlerName } }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME }),
    tracer: TracerClass ? new TracerClass({ serviceName: SERVICE_NAME }) : NO_TRACER,
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
