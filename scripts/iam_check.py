"""Least privilege, checked on the packaged CloudFormation template.

What each function needs is derived from the template itself, never kept in a list here:

- its own log group (``logs:CreateLogStream``, ``logs:PutLogEvents``);
- every SSM parameter its environment names (``<NAME>_SSM_PARAMETER``): ``ssm:GetParameter``
  on it, and ``kms:Decrypt`` only through Parameter Store for it (a customer managed key);
- every Secrets Manager secret it names (``<NAME>_SECRET_ARN``): ``secretsmanager:GetSecretValue``;
- the function it invokes (``PROCESS_JOB_FUNCTION_NAME``): ``lambda:InvokeFunction`` on it;
- its async destinations (an ``EventInvokeConfig``'s SQS queue): ``sqs:SendMessage`` on it.

Each function's role must grant exactly that: a need the role lacks (the function would fail
on AWS, where moto would not notice) and a grant nothing needs are both reported. Conditions
(``Fn::If`` on the template's ``Conditions``) are evaluated as packaged.
"""

from __future__ import annotations

from typing import Any

ARN = "arn:${AWS::Partition}"
SCOPE = "${AWS::Region}:${AWS::AccountId}"
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
KMS_VIA_SSM = "ssm.${AWS::Region}.amazonaws.com"
KMS_ANY_KEY = f"{ARN}:kms:{SCOPE}:key/*"
# A grant is (action, resource); kms:Decrypt's resource is the parameter it may decrypt.
Grant = tuple[str, str]


class TemplateError(ValueError):
    """The template uses a construct this check does not understand (so cannot vouch for)."""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class Template:
    def __init__(self, template: dict[str, Any]) -> None:
        self.resources: dict[str, Any] = template["Resources"]
        self._conditions: dict[str, Any] = template.get("Conditions", {})

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {
            name: r.get("Properties", {}) for name, r in self.resources.items() if r["Type"] == kind
        }

    def condition(self, name: str) -> bool:
        return bool(self._evaluate(self._conditions[name]))

    def _evaluate(self, node: Any) -> Any:
        if isinstance(node, str | int | bool):
            return node
        if isinstance(node, dict) and len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Fn::Not":
                return not self._evaluate(args[0])
            if fn == "Fn::Equals":
                return self._evaluate(args[0]) == self._evaluate(args[1])
            if fn == "Condition":
                return self.condition(args)
        raise TemplateError(f"cannot evaluate the condition {node}")

    def resolve(self, node: Any) -> list[Any]:
        """``node`` with its ``Fn::If`` taken; ``AWS::NoValue`` as no item."""
        if isinstance(node, dict) and "Fn::If" in node:
            name, then, otherwise = node["Fn::If"]
            return self.resolve(then if self.condition(name) else otherwise)
        if node == {"Ref": "AWS::NoValue"}:
            return []
        return [node]

    def text(self, node: Any) -> str:
        """A resource as comparable text: a string, a ``Fn::Sub`` pattern or a ``GetAtt``."""
        if isinstance(node, str):
            return node
        if isinstance(node, dict) and "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
            return str(node["Fn::Sub"])
        if isinstance(node, dict) and "Fn::GetAtt" in node:
            logical, attribute = node["Fn::GetAtt"]
            return f"GetAtt:{logical}.{attribute}"
        raise TemplateError(f"cannot read the resource {node}")

    def values(self, node: Any) -> list[str]:
        return [self.text(v) for item in _as_list(node) for v in self.resolve(item)]


def parameter_arn(name: str) -> str:
    return f"{ARN}:ssm:{SCOPE}:parameter/{name.lstrip('/')}"


def function_arn(name: str) -> str:
    return f"{ARN}:lambda:{SCOPE}:function:{name}"


def needs(t: Template, logical_id: str) -> set[Grant]:
    """What the function ``logical_id`` reads, invokes and writes, from its own definition."""
    props = t.resources[logical_id]["Properties"]
    name = props["FunctionName"]
    wanted: set[Grant] = {
        (action, f"{ARN}:logs:{SCOPE}:log-group:/aws/lambda/{name}:*") for action in LOG_ACTIONS
    }
    for variable, value in props.get("Environment", {}).get("Variables", {}).items():
        if not isinstance(value, str) or not value.strip():
            continue
        if variable.endswith("_SSM_PARAMETER"):
            wanted.add(("ssm:GetParameter", parameter_arn(value)))
            wanted.add(("kms:Decrypt", parameter_arn(value)))
        elif variable.endswith("_SECRET_ARN"):
            wanted.add(("secretsmanager:GetSecretValue", value))
        elif variable == "PROCESS_JOB_FUNCTION_NAME":
            wanted.add(("lambda:InvokeFunction", function_arn(value)))
    for config in t.of_type("AWS::Lambda::EventInvokeConfig").values():
        if config.get("FunctionName") != {"Ref": logical_id}:
            continue
        for outcome in config.get("DestinationConfig", {}).values():
            destination = t.text(outcome["Destination"])
            if destination.startswith("GetAtt:"):
                queue = destination.removeprefix("GetAtt:").split(".")[0]
                if t.resources[queue]["Type"] != "AWS::SQS::Queue":
                    raise TemplateError(f"{logical_id}: destination {queue} is not an SQS queue")
            elif ":sqs:" not in destination:
                raise TemplateError(f"{logical_id}: destination {destination} is not SQS")
            wanted.add(("sqs:SendMessage", destination))
    return wanted


def _kms_grants(t: Template, role: str, statement: dict[str, Any]) -> set[Grant]:
    """kms:Decrypt of any key, but only through Parameter Store for the named parameters."""
    if t.values(statement.get("Resource", [])) != [KMS_ANY_KEY]:
        raise TemplateError(f"{role}: kms:Decrypt on {statement.get('Resource')}")
    equals = statement.get("Condition", {}).get("StringEquals", {})
    if set(statement.get("Condition", {})) != {"StringEquals"} or t.values(
        equals.get("kms:ViaService", [])
    ) != [KMS_VIA_SSM]:
        raise TemplateError(f"{role}: kms:Decrypt is not limited to Parameter Store")
    contexts = t.values(equals.get("kms:EncryptionContext:PARAMETER_ARN", []))
    if not contexts:
        raise TemplateError(f"{role}: kms:Decrypt is not limited to named parameters")
    return {("kms:Decrypt", arn) for arn in contexts}


def grants(t: Template, role: str) -> set[Grant]:
    """Every (action, resource) the role allows; TemplateError on what cannot be judged."""
    props = t.resources[role]["Properties"]
    if props.get("ManagedPolicyArns"):
        raise TemplateError(f"{role}: managed policies attached: {props['ManagedPolicyArns']}")
    allowed: set[Grant] = set()
    for policy in props.get("Policies", []):
        for statement in _as_list(policy["PolicyDocument"]["Statement"]):
            if statement.get("Effect") != "Allow":
                continue
            actions = [str(a) for a in _as_list(statement.get("Action", []))]
            if "NotAction" in statement or "NotResource" in statement:
                raise TemplateError(f"{role}: NotAction/NotResource cannot be judged")
            if any("*" in a for a in actions):
                raise TemplateError(f"{role}: wildcard action in {actions}")
            if actions == ["kms:Decrypt"]:
                allowed |= _kms_grants(t, role, statement)
                continue
            if "Condition" in statement:
                raise TemplateError(f"{role}: a condition on {actions} cannot be judged")
            for resource in t.values(statement.get("Resource", [])):
                if resource == "*":
                    raise TemplateError(f"{role}: Resource '*' for {actions}")
                allowed |= {(action, resource) for action in actions}
    return allowed


def problems(template: dict[str, Any]) -> list[str]:
    """Each difference between what a function needs and what its role grants."""
    t = Template(template)
    found: list[str] = []
    roles_used: dict[str, str] = {}
    try:
        for logical_id, props in t.of_type("AWS::Lambda::Function").items():
            role_ref = props.get("Role", {})
            if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
                found.append(f"{logical_id}: its role is not one of this template's")
                continue
            role = role_ref["Fn::GetAtt"][0]
            if role in roles_used:
                found.append(f"{logical_id} shares the role {role} with {roles_used[role]}")
            roles_used[role] = logical_id
            wanted, allowed = needs(t, logical_id), grants(t, role)
            for action, resource in sorted(wanted - allowed):
                found.append(f"{logical_id}: its role {role} lacks {action} on {resource}")
            for action, resource in sorted(allowed - wanted):
                found.append(f"{logical_id}: its role {role} allows {action} on {resource}")
        for role in t.of_type("AWS::IAM::Role"):
            if role not in roles_used:
                found.append(f"{role}: a role no function uses")
    except TemplateError as exc:
        found.append(str(exc))
    return found
