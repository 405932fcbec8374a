"""moto_server for the tests, with moto's own gaps (not AWS's) patched, each where it blocks a path
sfn-fanout takes. Prints "moto listening on http://127.0.0.1:PORT" once it serves, and exits when
its stdin closes, so a test run that dies cannot leave it behind.

Every patch names the AWS behaviour it restores; nothing here changes what AWS would answer.
"""

import json
import os
import sys
import threading

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import ValidationError
from moto.core.responses import ActionResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.stepfunctions import models as sfn_models
from moto.utilities.utils import get_partition
from werkzeug.serving import WSGIRequestHandler, make_server

# 1. AWS: a stack created or updated by executing a change set reports the Outputs and Parameters of
#    the template and parameters that change set carried. moto applies the resources only, so a
#    stack made by a CREATE change set has no Outputs and keeps its first parameters.
_execute_change_set = cfn_models.CloudFormationBackend.execute_change_set


def execute_change_set(self, change_set_name, stack_name=None):
    _execute_change_set(self, change_set_name, stack_name)
    change_set = self.describe_change_set(change_set_name)
    stack = self.stacks[change_set.stack_id]
    stack.parameters = change_set.parameters
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.output_map = stack._create_output_map()


cfn_models.CloudFormationBackend.execute_change_set = execute_change_set

# 2. AWS: `!If [Cond, X, !Ref AWS::NoValue]` inside a list removes the element. moto leaves None
#    in the list (an IAM role's Policies then fails to create).
_clean_json = cfn_parsing.clean_json


def clean_json(resource_json, resources_map):
    if isinstance(resource_json, list):
        cleaned = [_clean_json(value, resources_map) for value in resource_json]
        return [value for value in cleaned if value is not None]
    return _clean_json(resource_json, resources_map)


cfn_parsing.clean_json = clean_json

# 3. AWS: AWS::StepFunctions::StateMachine takes its definition as `Definition` (an object) with
#    `DefinitionSubstitutions` replacing ${name} in it. moto reads only `DefinitionString`.
def with_definition_string(properties):
    if "Definition" not in properties:
        return properties
    text = json.dumps(properties["Definition"])
    for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + name + "}", str(value))
    return {**properties, "DefinitionString": text}


_create_state_machine = sfn_models.StateMachine.create_from_cloudformation_json.__func__
_update_state_machine = sfn_models.StateMachine.update_from_cloudformation_json.__func__


# 3b. AWS: the resource's LoggingConfiguration becomes the state machine's (DescribeStateMachine
#     shows it). moto drops it.
def with_logging(state_machine, properties):
    logging = properties.get("LoggingConfiguration")
    if logging:
        state_machine.loggingConfiguration = {
            "level": logging.get("Level", "OFF"),
            "includeExecutionData": logging.get("IncludeExecutionData") in (True, "true"),
            "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]}} for d in logging.get("Destinations", [])],
        }
    return state_machine


def create_state_machine(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    cloudformation_json["Properties"] = with_definition_string(cloudformation_json["Properties"])
    created = _create_state_machine(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    return with_logging(created, cloudformation_json["Properties"])


def update_state_machine(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    cloudformation_json["Properties"] = with_definition_string(cloudformation_json.get("Properties", {}))
    updated = _update_state_machine(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
    return with_logging(updated, cloudformation_json["Properties"])


sfn_models.StateMachine.create_from_cloudformation_json = classmethod(create_state_machine)
sfn_models.StateMachine.update_from_cloudformation_json = classmethod(update_state_machine)

# 4. AWS: a CREATE change set for a stack in REVIEW_IN_PROGRESS (one whose first change set was
#    never executed) belongs to that same stack; for any other existing stack it is refused
#    (ValidationError "Stack [x] already exists and cannot be created again with the changeSet
#    [y]"). moto starts a second stack of the same name.
_create_change_set = cfn_models.CloudFormationBackend.create_change_set


def create_change_set(self, stack_name, change_set_name, template, parameters, description, change_set_type, **kwargs):
    if change_set_type == "CREATE":
        existing = next((stack for stack in self.stacks.values() if stack.name == stack_name), None)
        if existing is not None and existing.status != "REVIEW_IN_PROGRESS":
            raise ValidationError(stack_name, message=f"Stack [{stack_name}] already exists and cannot be created again with the changeSet [{change_set_name}].")
        if existing is not None:
            del self.stacks[existing.stack_id]
            change_set_id, stack_id = _create_change_set(self, stack_name, change_set_name, template, parameters, description, change_set_type, **kwargs)
            fresh = self.stacks.pop(stack_id)
            self.stacks[existing.stack_id] = existing
            change_set = self.change_sets[change_set_id]
            change_set.stack, change_set.stack_id = existing, existing.stack_id
            existing.events.extend(fresh.events)
            return change_set_id, existing.stack_id
    return _create_change_set(self, stack_name, change_set_name, template, parameters, description, change_set_type, **kwargs)


cfn_models.CloudFormationBackend.create_change_set = create_change_set

# 5. AWS: CreateChangeSet with nothing to change succeeds; the change set then FAILS with "The
#    submitted information didn't contain changes". moto refuses the call itself with UpdateStack's
#    "No updates are to be performed".
_validate_different_update = cfn_responses.CloudFormationResponse._validate_different_update


def validate_different_update(self, incoming_params, stack_body, old_stack):
    if self._get_param("Action") != "CreateChangeSet":
        _validate_different_update(self, incoming_params, stack_body, old_stack)


cfn_responses.CloudFormationResponse._validate_different_update = validate_different_update

# 6. AWS: UpdateTerminationProtection turns protection on or off, DescribeStacks shows it, and
#    DeleteStack refuses a protected stack. moto has no UpdateTerminationProtection.
def update_termination_protection(self):
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    stack.enable_termination_protection = self._get_param("EnableTerminationProtection") in (True, "true")
    return ActionResult({"StackId": stack.stack_id})


cfn_responses.CloudFormationResponse.update_termination_protection = update_termination_protection
_delete_stack = cfn_models.CloudFormationBackend.delete_stack


def delete_stack(self, name_or_stack_id):
    stack = next((s for s in self.stacks.values() if name_or_stack_id in (s.name, s.stack_id)), None)
    if stack is not None and stack.enable_termination_protection:
        raise ValidationError(stack.stack_id, message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled")
    _delete_stack(self, name_or_stack_id)


cfn_models.CloudFormationBackend.delete_stack = delete_stack

# 7. AWS: AWS::Partition and AWS::URLSuffix follow the region (aws-cn and amazonaws.com.cn in
#    cn-north-1, aws-us-gov in us-gov-west-1). moto answers aws and amazonaws.com everywhere.
_resource_map_init = cfn_parsing.ResourceMap.__init__


def resource_map_init(self, *args, **kwargs):
    _resource_map_init(self, *args, **kwargs)
    partition = get_partition(self._region_name)
    self._parsed_resources["AWS::Partition"] = partition
    self._parsed_resources["AWS::URLSuffix"] = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"


cfn_parsing.ResourceMap.__init__ = resource_map_init

class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def main():
    server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True, request_handler=QuietHandler)
    port = server.server_address[1]
    os.environ["MOTO_PORT"] = str(port)

    def exit_when_stdin_closes():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(f"moto listening on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
