"""Procountor (Finnish accounting SaaS): the REST API client. See client.py and docs/sandbox-procountor.md."""
from .client import PROVIDER, ProcountorClient, api_root, error_text, field_errors

__all__ = ["PROVIDER", "ProcountorClient", "api_root", "error_text", "field_errors"]
