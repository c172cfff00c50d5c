"""Reading one secret from SSM Parameter Store (SecureString) or Secrets Manager.

Messages name the parameter or secret, never its value. Which store a setting comes from is
decided by ``functions.config``.
"""

from __future__ import annotations

from typing import Any


class SecretUnreadable(RuntimeError):
    """The store refused, failed, or holds something that is not a usable secret."""


def _client(service: str) -> Any:
    import boto3  # the Lambda runtime provides it; local runs with plain values never import it

    return boto3.client(service)


def _call(what: str, call: Any, **params: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call(**params)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SecretUnreadable(f"{what} could not be read ({code})") from None
    except BotoCoreError as exc:
        raise SecretUnreadable(f"{what} could not be read ({type(exc).__name__})") from None


def from_ssm(parameter: str) -> str:
    what = f"SSM parameter {parameter}"
    found = _call(what, _client("ssm").get_parameter, Name=parameter, WithDecryption=True)
    if found["Parameter"].get("Type") != "SecureString":
        # A String parameter is stored in plain text for anyone allowed to read parameters.
        raise SecretUnreadable(f"{what} must be a SecureString")
    return str(found["Parameter"]["Value"])


def from_secrets_manager(secret_arn: str) -> str:
    what = f"secret {secret_arn}"
    found = _call(what, _client("secretsmanager").get_secret_value, SecretId=secret_arn)
    if "SecretString" not in found:
        raise SecretUnreadable(f"{what} holds binary data, not a string")
    return str(found["SecretString"])
