/**
 * cdk-nag v3 acknowledgements (CDK `Validations.of(x).acknowledge`). v3 matches each finding exactly
 * (`AwsSolutions-IAM5[Resource::...]`): no prefixes, no patterns, so every acknowledged wildcard is named.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges rule `id` on `scope` and everything below it, for the reason given. With `findings`, only
 * those findings of the rule (e.g. `Resource::*`) are acknowledged, not the rule as a whole.
 */
export function acknowledge(
  scope: IConstruct,
  id: string,
  reason: string,
  findings?: readonly string[],
): void {
  const validations = Validations.of(scope);
  if (findings === undefined) {
    validations.acknowledge({ id, reason });
    return;
  }
  for (const finding of findings) validations.acknowledge({ id: `${id}[${finding}]`, reason });
}
