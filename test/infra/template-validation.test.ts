/**
 * The CDK's own template validation (the built-in CloudFormation Validate plugin, on at every synth) is
 * switched from warnings to errors by cdk.json, so `cdk synth` (and .ci/run) fails on a template that breaks
 * one of its default rules; and the template gives that validation and cfn-lint nothing to report.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnResource, Stack } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultTemplateJson } from './fixture';

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** An app with cdk.json's context (as `cdk synth` gives it) or none, and one queue breaking two rules. */
function synthesizeBrokenQueue(context: Record<string, unknown>): void {
  const outdir = mkdtempSync(join(tmpdir(), 'template-validation-'));
  outdirs.push(outdir);
  const app = new App({ context, outdir });
  const stack = new Stack(app, 'Broken');
  new CfnResource(stack, 'Queue', {
    type: 'AWS::SQS::Queue',
    properties: { VisibilityTimeout: 99_999, NoSuchProperty: 1 },
  });
  app.synth();
}

describe('template validation at synth', () => {
  const cdkContext = JSON.parse(readFileSync('cdk.json', 'utf8')).context as Record<string, unknown>;

  it("fails the synth on a default rule's violation with cdk.json's context (only a warning without it)", () => {
    expect(cdkContext['@aws-cdk/core:validateAgainstDefaultRules']).toBe(true);
    expect(() => synthesizeBrokenQueue({})).not.toThrow();
    expect(() => synthesizeBrokenQueue(cdkContext)).toThrow(
      /ERROR VisibilityTimeout: 99999 is greater than the maximum/,
    );
  });

  it('grants access log delivery by bucket policy: no bucket uses the legacy AccessControl (W3045)', () => {
    const buckets = Object.entries(defaultTemplateJson().Resources).filter(
      ([, r]) => r.Type === 'AWS::S3::Bucket',
    );
    expect(buckets.length).toBeGreaterThan(0);
    for (const [id, bucket] of buckets) {
      expect({ id, accessControl: bucket.Properties?.AccessControl }).toEqual({
        id,
        accessControl: undefined,
      });
    }
  });
});
