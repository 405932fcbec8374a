import * as core from '@actions/core';
import { SFNClient } from '@aws-sdk/client-sfn';
import { stopExecution } from './aws/execution.ts';
import { errorMessage } from './errors.ts';

/** The action's post step (post-if: cancelled()): stops the execution the main step left running. */
const executionArn = core.getState('execution-arn');
const region = core.getState('region');
if (executionArn !== '' && region !== '') {
  try {
    await stopExecution(new SFNClient({ region }), executionArn, 'sfn-fanout stopped the execution: the job was cancelled.');
    core.info(`Stopped ${executionArn}.`);
  } catch (error) {
    core.warning(`Could not stop ${executionArn}: ${errorMessage(error)}. Stop it in the Step Functions console.`);
  }
}
