/**
 * CDK apps for tests. `new App()` without `outdir` makes a `cdk.out*` directory in the system temp directory
 * at its first synthesis (Template.fromStack synthesizes) and never removes it: a test run used to leave
 * about twenty behind. Every app made here writes under one directory per test file, removed after it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type AppProps } from 'aws-cdk-lib';
import { afterAll } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'meta-agent-cdk-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let made = 0;

/** A CDK App whose cloud assembly goes to a directory removed after the test file. */
export function testApp(props: AppProps = {}): App {
  made += 1;
  return new App({ ...props, outdir: props.outdir ?? join(root, `app-${made}`) });
}
