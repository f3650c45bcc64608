import type { ResourceStatus, StackResourceSummary } from '@aws-sdk/client-cloudformation';
import { describe, expect, it } from 'vitest';
import { compareResources, MOTO_SKIPS, templateForMoto } from '../../scripts/moto-deploy';

const template = {
  Resources: {
    Table: { Type: 'AWS::DynamoDB::Table' },
    Queue: { Type: 'AWS::SQS::Queue' },
    Alarm: { Type: 'AWS::CloudWatch::Alarm' },
    Preflight: {
      Type: 'AWS::ApiGateway::Method',
      Properties: { HttpMethod: 'OPTIONS', Integration: { Type: 'MOCK' } },
    },
    Proxy: {
      Type: 'AWS::ApiGateway::Method',
      Properties: { HttpMethod: 'POST', Integration: { Type: 'AWS_PROXY', Uri: 'arn:fn' } },
    },
    Dashboard: {
      Type: 'AWS::CloudWatch::Dashboard',
      Properties: {
        Body: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Alarm', 'Arn'] }, { 'Fn::GetAtt': ['Queue', 'Arn'] }]] },
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
        Name: { 'Fn::Sub': '${Alarm.Arn}-${Queue.QueueName}-${AWS::Region}' },
      },
    },
  },
};
const created = (
  id: string,
  type: string,
  status: ResourceStatus = 'CREATE_COMPLETE',
): StackResourceSummary => ({
  LogicalResourceId: id,
  ResourceType: type,
  ResourceStatus: status,
  LastUpdatedTimestamp: new Date(0),
});

describe('moto deploy: the template moto is given', () => {
  const { template: forMoto, replaced } = templateForMoto(template, (type) => type in MOTO_SKIPS);

  it('replaces only the attributes of resources moto skips, in GetAtt and Sub', () => {
    expect(replaced).toEqual(['Alarm.Arn']);
    const properties = forMoto.Resources.Dashboard?.Properties;
    expect(properties?.Body).toEqual({
      'Fn::Join': ['', ['moto-skipped:Alarm.Arn', { 'Fn::GetAtt': ['Queue', 'Arn'] }]],
    });
    expect(properties?.Name).toEqual({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
      'Fn::Sub': 'moto-skipped:Alarm.Arn-${Queue.QueueName}-${AWS::Region}',
    });
  });

  it('gives MOCK integrations the method and uri moto reads, and leaves other integrations alone', () => {
    expect(forMoto.Resources.Preflight?.Properties?.Integration).toEqual({
      Type: 'MOCK',
      IntegrationHttpMethod: 'OPTIONS',
      Uri: 'moto-mock-integration',
    });
    expect(forMoto.Resources.Proxy).toEqual(template.Resources.Proxy);
    expect(template.Resources.Preflight.Properties.Integration).toEqual({ Type: 'MOCK' });
  });
});

describe('moto deploy: comparing the stack with the template', () => {
  const complete = [
    created('Table', 'AWS::DynamoDB::Table'),
    created('Queue', 'AWS::SQS::Queue'),
    created('Preflight', 'AWS::ApiGateway::Method'),
    created('Proxy', 'AWS::ApiGateway::Method'),
    created('Dashboard', 'AWS::CloudWatch::Dashboard'),
  ];

  it('accepts every resource created, counting the skipped types', () => {
    expect(compareResources(template, complete)).toEqual({
      problems: [],
      skipped: { 'AWS::CloudWatch::Alarm': 1 },
    });
  });

  it('reports a resource missing, of another type, not complete, unknown to the template, or skipped yet created', () => {
    const { problems } = compareResources(template, [
      created('Queue', 'AWS::SNS::Topic'),
      created('Preflight', 'AWS::ApiGateway::Method', 'CREATE_FAILED'),
      created('Proxy', 'AWS::ApiGateway::Method'),
      created('Dashboard', 'AWS::CloudWatch::Dashboard'),
      created('Alarm', 'AWS::CloudWatch::Alarm'),
      created('Extra', 'AWS::S3::Bucket'),
    ]);
    expect(problems).toEqual([
      'Table (AWS::DynamoDB::Table): in the template, not in the stack',
      'Queue: type AWS::SNS::Topic, template AWS::SQS::Queue',
      'Alarm: AWS::CloudWatch::Alarm is listed as skipped by moto but was created: update MOTO_SKIPS',
      'Preflight (AWS::ApiGateway::Method): CREATE_FAILED',
      'Extra (AWS::S3::Bucket): in the stack, not in the template',
    ]);
  });
});
