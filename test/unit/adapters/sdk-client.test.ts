import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PROBE = fileURLToPath(new URL('../../support/fast-config-probe.ts', import.meta.url));

interface ProbeReport {
  afterFastConfig: boolean;
  sameProperties: boolean;
  region: string;
  credentialsResolved: boolean;
  handlerClients: Record<string, boolean>;
}

/** Runs the probe in a child Node process that may use V8's natives syntax (%HasFastProperties). */
async function probe(): Promise<ProbeReport> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--allow-natives-syntax', '--import', 'tsx', PROBE],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        AWS_ACCESS_KEY_ID: 'probe',
        AWS_SECRET_ACCESS_KEY: 'probe',
      },
    },
  );
  return JSON.parse(stdout) as ProbeReport;
}

describe('fastConfig', () => {
  it("puts a client's resolved config in fast-properties mode and changes nothing else, for every handler client", async () => {
    const report = await probe();
    expect(report.afterFastConfig).toBe(true);
    // The same object, the same properties (the credentials accessor included), and it still resolves.
    expect(report.sameProperties).toBe(true);
    expect(report.region).toBe('eu-west-1');
    expect(report.credentialsResolved).toBe(true);
    expect(report.handlerClients).toEqual({ dynamodb: true, sqs: true, sfn: true, s3: true });
  }, 30_000);
});
