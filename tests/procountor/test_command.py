"""``manage.py sandbox procountor`` serves through ``sandboxes.procountor.command.serve``."""
from __future__ import annotations

import requests

from sandboxes.procountor.command import serve


def test_serve_uses_the_default_credentials_when_none_are_given_and_says_where_it_answers():
    running, title, lines = serve(host="127.0.0.1", port=0, seed="demo", verbose=False, client_id=None,
                                  client_secret=None, api_key=None, sender="ignored")
    try:
        assert title == "Procountor"
        assert any(f"{running.url}/api/oauth/token" in line for line in lines)
        answer = requests.post(f"{running.url}/api/oauth/token", timeout=5,
                               data={"grant_type": "client_credentials", "client_id": "sandbox-procountor-client",
                                     "client_secret": "sandbox-procountor-secret",
                                     "api_key": "sandbox-procountor-key"})
        assert answer.status_code == 200
        reset = running.admin("POST", "reset")
        assert reset["counts"]["invoices"] == 5
    finally:
        running.stop()
