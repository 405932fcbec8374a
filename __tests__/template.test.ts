import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import aslValidator from 'asl-validator';
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';
import { parseTemplateText } from '../src/local/cfn-yaml.ts';
import { INTERPRETER, checkedStateMachine } from '../src/local/checked-state-machine.ts';
import { defaultTemplatePath, functionArn, loadStateMachine } from '../src/local/template-definition.ts';
import { assertRunsLocally } from '../src/local/unsupported-features.ts';

type Resource = { Type: string; Properties?: Record<string, unknown> };
type SpecType = { type: string; reference?: { $ref: string }; element?: SpecType };
type SpecProperty = { type: SpecType; required?: boolean };

const templatePath = defaultTemplatePath();
const LOCATIONS = { InputBucket: 'logs-in', OutputBucket: 'results-out', OutputPrefix: 'nightly/' };
const here = path.dirname(fileURLToPath(import.meta.url));

describe('the CloudFormation template', () => {
  it('is the file under template/', () => {
    expect(templatePath).toBe(path.resolve(here, '../template/sfn-fanout.yaml'));
  });

  it.each(['INLINE', 'DISTRIBUTED'])('resolves to a state machine definition that asl-validator accepts in %s mode', async (MapMode) => {
    const { definition } = await loadStateMachine(templatePath, { ...LOCATIONS, MapMode });
    const { isValid, errorsText } = aslValidator(definition);
    expect(errorsText('\n')).toBe('');
    expect(isValid).toBe(true);
  });

  it('switches the one Map to Distributed with the MapMode parameter: items from the plan manifest, results to S3', async () => {
    const { definition } = await loadStateMachine(templatePath, { ...LOCATIONS, MapMode: 'DISTRIBUTED', ChildExecutionType: 'EXPRESS' });
    const work = (definition.States as Record<string, Record<string, unknown>>).Work!;
    expect(work.ItemsPath).toBeUndefined();
    expect(work).toMatchObject({
      ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSONL' }, Parameters: { 'Bucket.$': '$.manifest.bucket', 'Key.$': '$.manifest.key' } },
      ToleratedFailurePercentage: 100,
      ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: 'results-out', Prefix: 'nightly/_sfn-fanout/map-results' } },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' } },
    });
    const batchedDefinition = (await loadStateMachine(templatePath, { ...LOCATIONS, MapMode: 'DISTRIBUTED', ItemsPerBatch: '50' })).definition;
    const batched = batchedDefinition.States as Record<string, Record<string, unknown>>;
    expect(batched.Work).toMatchObject({ ItemBatcher: { MaxItemsPerBatchPath: '$.itemsPerBatch', BatchInput: { 'job.$': '$.job', 'runId.$': '$.runId' } } });
    expect(batched.Work!.ItemSelector).toBeUndefined();
    expect(aslValidator(batchedDefinition).errorsText('\n')).toBe('');
    const inline = (await loadStateMachine(templatePath, LOCATIONS)).definition.States as Record<string, Record<string, unknown>>;
    expect(Object.keys(inline.Work!).sort()).toEqual(['ItemProcessor', 'ItemSelector', 'ItemsPath', 'MaxConcurrencyPath', 'Next', 'ResultPath', 'Type']);
  });

  it('calls each of its three functions through lambda:invoke, retries transient Lambda errors with jittered backoff, and catches inside the iteration', async () => {
    const { definition, functions } = await loadStateMachine(templatePath, LOCATIONS);
    expect([...functions.keys()]).toEqual(['PartitionerFunction', 'WorkerFunction', 'ReducerFunction'].map(functionArn));
    const states = definition.States as Record<string, Record<string, unknown>>;
    const work = states.Work!.ItemProcessor as { States: Record<string, Record<string, unknown>> };
    const task = work.States.ProcessPartition!;
    for (const state of [states.Partition!, task, states.Reduce!]) {
      expect(state.Retry).toEqual([
        { ErrorEquals: ['Lambda.TooManyRequestsException'], IntervalSeconds: 1, MaxAttempts: 50, BackoffRate: 2, MaxDelaySeconds: 60, JitterStrategy: 'FULL' },
        {
          ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException'],
          IntervalSeconds: 2,
          MaxAttempts: 6,
          BackoffRate: 2,
          MaxDelaySeconds: 60,
          JitterStrategy: 'FULL',
        },
      ]);
    }
    expect(task.Catch).toEqual([
      { ErrorEquals: ['Sandbox.Timedout', 'States.Timeout'], ResultPath: '$.failure', Next: 'SplitPartition' },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'PartitionFailed' },
    ]);
    expect(work.States.SplitPartition).toMatchObject({ Next: 'ProcessHalves', Parameters: { FunctionName: functionArn('PartitionerFunction'), Payload: { 'split.$': '$' } } });
    expect(work.States.ProcessHalves).toMatchObject({ Type: 'Map', ItemsPath: '$.halves', MaxConcurrency: 2 });
    expect(states.Work).toMatchObject({ MaxConcurrencyPath: '$.maxConcurrency', ResultPath: '$.partitions' });
  });

  it('uses only resource types and properties the current CloudFormation specification has, with every required property set', async () => {
    const template = parseTemplateText(await readFile(templatePath, 'utf8')) as { Resources: Record<string, Resource> };
    const db = await loadAwsServiceSpec();
    const problems: string[] = [];
    const checkObject = (where: string, value: unknown, properties: Record<string, SpecProperty>): void => {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || isIntrinsic(value)) return;
      for (const [name, spec] of Object.entries(properties)) {
        if (spec.required === true && !(name in value)) problems.push(`${where} is missing required ${name}`);
      }
      for (const [name, child] of Object.entries(value)) {
        const spec = properties[name];
        if (spec === undefined) {
          problems.push(`${where}.${name} is not in the specification`);
          continue;
        }
        const type = spec.type.type === 'array' ? spec.type.element! : spec.type;
        if (type.reference === undefined) continue;
        const nested = db.get('typeDefinition', type.reference.$ref) as unknown as { properties: Record<string, SpecProperty> };
        for (const item of spec.type.type === 'array' && Array.isArray(child) ? child : [child]) checkObject(`${where}.${name}`, item, nested.properties);
      }
    };
    for (const [logicalId, resource] of Object.entries(template.Resources)) {
      const found = db.lookup('resource', 'cloudFormationType', 'equals', resource.Type);
      if (found.length !== 1) {
        problems.push(`${logicalId}: ${resource.Type} is not a resource type`);
        continue;
      }
      const spec = found[0]! as unknown as { properties: Record<string, SpecProperty>; attributes: Record<string, unknown> };
      checkObject(logicalId, resource.Properties ?? {}, spec.properties);
    }
    // Every !GetAtt names an attribute its resource type has.
    const text = JSON.stringify(template);
    for (const match of text.matchAll(/"Fn::GetAtt":\["([^"]+)","([^"]+)"\]/g)) {
      const type = template.Resources[match[1]!]?.Type;
      const spec = db.lookup('resource', 'cloudFormationType', 'equals', type ?? '')[0] as unknown as { attributes: Record<string, unknown> } | undefined;
      if (spec === undefined || !(match[2]! in spec.attributes)) problems.push(`!GetAtt ${match[1]}.${match[2]} is not an attribute`);
    }
    expect(problems).toEqual([]);
  });

  it('runs nodejs24.x on arm64 by default, with log retention for every function', async () => {
    const template = parseTemplateText(await readFile(templatePath, 'utf8')) as { Parameters: Record<string, { Default?: unknown }>; Resources: Record<string, Resource> };
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions).toHaveLength(3);
    for (const fn of functions) {
      expect(fn.Properties!.Runtime).toBe('nodejs24.x');
      expect(fn.Properties!.LoggingConfig).toEqual({ LogGroup: { Ref: expect.stringMatching(/LogGroup$/) } });
    }
    expect(template.Parameters.Architecture!.Default).toBe('arm64');
    const logGroups = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Logs::LogGroup');
    expect(logGroups.map((g) => g.Properties!.RetentionInDays)).toEqual([{ Ref: 'LogRetentionInDays' }, { Ref: 'LogRetentionInDays' }, { Ref: 'LogRetentionInDays' }, { Ref: 'LogRetentionInDays' }]);
  });

  it('logs the state machine’s errors (EXPRESS children keep no history) to a log group of the stack, with retention, and outputs it', async () => {
    const template = parseTemplateText(await readFile(templatePath, 'utf8')) as { Resources: Record<string, Resource>; Outputs: Record<string, { Value: unknown }> };
    expect(template.Resources.StateMachine!.Properties!.LoggingConfiguration).toEqual({
      Level: 'ERROR',
      IncludeExecutionData: true,
      Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': ['StateMachineLogGroup', 'Arn'] } } }],
    });
    expect(template.Resources.StateMachineLogGroup).toEqual({
      Type: 'AWS::Logs::LogGroup',
      Properties: { LogGroupName: { 'Fn::Sub': '/aws/vendedlogs/states/sfn-fanout/${AWS::StackName}' }, RetentionInDays: { Ref: 'LogRetentionInDays' } },
    });
    expect(template.Outputs.StateMachineLogGroup!.Value).toEqual({ Ref: 'StateMachineLogGroup' });
  });
});

describe('a template the local engine cannot use', () => {
  it.each([
    ['Resources: [unclosed', 'cannot be read:'],
    ['Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n', 'has 0 AWS::StepFunctions::StateMachine resources: the local engine needs exactly one.'],
  ])('%j is refused with a clear error', async (text, message) => {
    const { writeFile, mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'tpl-')), 'bad.yaml');
    await writeFile(file, text);
    await expect(loadStateMachine(file)).rejects.toThrow(message);
  });
});

describe('checking a definition once', () => {
  const valid = { StartAt: 'Only', States: { Only: { Type: 'Pass', End: true } } };
  const invalid = { StartAt: 'Missing', States: { Only: { Type: 'Pass', End: true } } };
  const markers = async (cache: string) => {
    const { readdir } = await import('node:fs/promises');
    return readdir(path.join(cache, 'accepted-definitions')).catch(() => []);
  };

  it('names the interpreter installed, whose asl-validator the remembered checks were made with', async () => {
    const installed = JSON.parse(await readFile(path.join(here, '../node_modules/aws-local-stepfunctions/package.json'), 'utf8')) as { version: string };
    expect(INTERPRETER).toBe(`aws-local-stepfunctions@${installed.version}`);
  });

  it('refuses a definition asl-validator rejects, and remembers none (so it is refused every time)', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const cache = await mkdtemp(path.join(tmpdir(), 'checked-'));
    expect(() => checkedStateMachine(invalid, cache)).toThrow(/Missing/);
    expect(await markers(cache)).toEqual([]);
  });

  it('remembers a definition it accepted by the hash of the interpreter and the definition, and then trusts the cache', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { createHash } = await import('node:crypto');
    const cache = await mkdtemp(path.join(tmpdir(), 'checked-'));
    const hashOf = (definition: unknown) => createHash('sha256').update(`${INTERPRETER}\n${JSON.stringify(definition)}`).digest('hex');
    // Before the constructor, which adds to the definition it is given.
    const expected = hashOf(valid);
    checkedStateMachine(valid, cache);
    expect(await markers(cache)).toEqual([expected]);
    // What the cache says is believed: its directory is the bundle cache, which only the user can write.
    await writeFile(path.join(cache, 'accepted-definitions', hashOf(invalid)), '');
    expect(() => checkedStateMachine(invalid, cache)).not.toThrow();
  });
});

describe('the local engine refuses what it cannot run faithfully', () => {
  const known = new Set([functionArn('WorkerFunction')]);
  const invoke = { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: functionArn('WorkerFunction') }, End: true };
  const map = (extra: Record<string, unknown>) => ({
    StartAt: 'Work',
    States: { Work: { Type: 'Map', ItemProcessor: { StartAt: 'Do', States: { Do: invoke } }, End: true, ...extra } },
  });

  it.each([
    [{ StartAt: 'A', QueryLanguage: 'JSONata', States: { A: { Type: 'Pass', End: true } } }, 'the state machine uses QueryLanguage JSONata'],
    [{ StartAt: 'A', States: { A: { Type: 'Pass', Output: '{% $states.input %}', End: true } } }, 'State "A" uses the Output field (JSONata or variables)'],
    [map({ ItemReader: { Resource: 'arn:aws:states:::s3:getObject' } }), 'State "Work" uses ItemReader (a Distributed Map field)'],
    [map({ ToleratedFailurePercentage: 5 }), 'State "Work" uses ToleratedFailurePercentage (a Distributed Map field)'],
    [map({ ItemBatcher: { MaxInputBytesPerBatch: 5 }, ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED' }, StartAt: 'Do', States: { Do: invoke } } }), 'State "Work" uses ItemBatcher.MaxInputBytesPerBatch'],
    [{ StartAt: 'A', States: { A: { Type: 'Task', Resource: 'arn:aws:states:::sqs:sendMessage', End: true } } }, 'State "A" uses the resource arn:aws:states:::sqs:sendMessage'],
    [{ StartAt: 'A', States: { A: { ...invoke, Parameters: { 'FunctionName.$': '$.fn' } } } }, 'State "A" uses a FunctionName ("$.fn") that is not a function of the template'],
  ])('%#: %s', (definition, message) => {
    expect(() => assertRunsLocally(definition, known)).toThrow(message);
    expect(() => assertRunsLocally(definition, known)).toThrow('which the local engine cannot execute faithfully');
  });
});

function isIntrinsic(value: object): boolean {
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'));
}
