/**
 * Proves the nag assertions of the template tests can fail: the same checks flag a resource that breaks an
 * AwsSolutions rule, and `acknowledge` (with a reason) is what clears a finding.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import nag from 'cdk-nag';
import { acknowledge } from '../../../infra/cdk/lib/nag-suppressions.ts';

function ruleNames(stack: Stack): string[] {
  return new nag.AwsSolutionsChecks().validateScope(stack).violations.map((violation) => violation.ruleName);
}

it('reports a queue that accepts plain HTTP and has no dead-letter queue', () => {
  // Prepare
  const stack = new Stack(new App(), 'Probe');
  new Queue(stack, 'Queue');

  // Act
  const rules = ruleNames(stack);

  // Assess
  expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']));
});

it('clears exactly the finding that was acknowledged', () => {
  // Prepare
  const stack = new Stack(new App(), 'Probe');
  const queue = new Queue(stack, 'Queue');
  acknowledge(queue, 'AwsSolutions-SQS3', 'probe: this queue is a dead-letter queue');

  // Act
  const rules = ruleNames(stack);

  // Assess
  expect(rules).not.toContain('AwsSolutions-SQS3');
  expect(rules).toContain('AwsSolutions-SQS4');
});
