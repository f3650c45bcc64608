/**
 * The handler modules' SDK clients (functions/commons/clients.ts): the embedded runtime loads about 16 handler
 * modules per system into one process, and those built from the same environment share one untraced set.
 */
import { describe, expect, it } from 'vitest';
import { handlerClients } from '../../../functions/commons/clients';
import type { HandlerTracer } from '../../../functions/commons/observability';
import { EnvVar } from '../../../shared/config';

const untraced: HandlerTracer = {
  captureAWSv3Client: (client) => client,
  isTracingEnabled: () => false,
  getSegment: () => undefined,
  setSegment: () => undefined,
};
const traced: HandlerTracer = { ...untraced, isTracingEnabled: () => true };

/** An embedded system's environment: its emulators' endpoint and region. */
function systemEnv(port: number): NodeJS.ProcessEnv {
  return { AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` };
}

describe('handlerClients', () => {
  it('gives the handler modules built from one environment the same untraced clients', () => {
    const first = handlerClients({ tracer: untraced }, systemEnv(41001));
    // A setting the clients do not read (a handler's own configuration) does not matter.
    const second = handlerClients({ tracer: untraced }, { ...systemEnv(41001), ROLES_CONFIG: '[]' });

    expect(second).toBe(first);
    expect(second.dynamodb).toBe(first.dynamodb);
  });

  it('gives another endpoint, region, SDK setting or artifacts path style its own clients', () => {
    const first = handlerClients({ tracer: untraced }, systemEnv(41002));
    const others = [
      systemEnv(41003),
      { ...systemEnv(41002), AWS_REGION: 'us-east-2' },
      { ...systemEnv(41002), AWS_MAX_ATTEMPTS: '5' },
      { ...systemEnv(41002), [EnvVar.ArtifactsPathStyle]: 'true' },
    ];

    for (const env of others)
      expect(handlerClients({ tracer: untraced }, env), JSON.stringify(env)).not.toBe(first);
  });

  it('never shares traced clients: each tracer adds its own middleware', () => {
    expect(handlerClients({ tracer: traced }, systemEnv(41004))).not.toBe(
      handlerClients({ tracer: traced }, systemEnv(41004)),
    );
  });
});
