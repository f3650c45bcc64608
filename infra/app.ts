/**
 * CDK app entry (cdk.json: `npx tsx infra/app.ts`). cdk-nag's AwsSolutions checks run on every synth.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addMetaAgentStack } from './config';

const app = new App();
addMetaAgentStack(app);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
