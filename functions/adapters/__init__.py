"""Platform adapters: functions-framework (Flask) and AWS Lambda (API Gateway HTTP API v2)."""
