"""django-q2's broker: the database by default (nothing to install), Redis when REDIS_URL is set."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def q_cluster_with(env_overrides: dict) -> str:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update({"HUB_ENV_FILE": "", "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "integration_hub.settings", **env_overrides})
    code = ("import django; django.setup(); from django.conf import settings; q = settings.Q_CLUSTER; "
            "print('redis' if 'redis' in q else 'orm:' + q.get('orm', ''))")
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


def test_the_default_broker_is_the_database():
    assert q_cluster_with({}) == "orm:default"


def test_redis_url_switches_the_broker_to_redis():
    assert q_cluster_with({"REDIS_URL": "redis://127.0.0.1:6379/0"}) == "redis"


@pytest.mark.skipif(not redis_answers(), reason="no Redis on 127.0.0.1:6379")
def test_a_task_goes_through_a_real_redis_broker():
    from django_q.brokers.redis_broker import Redis

    broker = Redis(list_key=f"hub-test-{uuid.uuid4().hex}")  # Conf.REDIS unset: localhost:6379
    try:
        broker.enqueue("payload-1")
        received = broker.dequeue()
        assert received and received[0][1] in (b"payload-1", "payload-1")
    finally:
        broker.delete_queue()
