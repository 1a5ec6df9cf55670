"""Ports picked ahead of a server's bind come from outside the kernel's ephemeral range, so no outgoing
connection or `bind(0)` can take them in between (the cause of a learner that could never bind its
weight port again: "Address already in use" on every restart)."""

from __future__ import annotations

import socket

from vast.common import ports


def test_free_port_is_outside_the_ephemeral_range_distinct_and_bindable():
    low, high = ports.ephemeral_range()
    picked = [ports.free_port() for _ in range(50)]
    assert len(set(picked)) == len(picked)
    for port in picked:
        assert not low <= port <= high, (port, low, high)
        assert port >= ports.LOWEST
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))


def test_ephemeral_range_is_read_from_the_kernel_file_and_defaults_when_unreadable(tmp_path):
    path = tmp_path / "range"
    path.write_text("20000\t40000\n")
    assert ports.ephemeral_range(path) == (20000, 40000)
    assert ports.ephemeral_range(tmp_path / "missing") == ports.DEFAULT_EPHEMERAL
    path.write_text("garbage")
    assert ports.ephemeral_range(path) == ports.DEFAULT_EPHEMERAL


def test_candidate_ranges_avoid_the_ephemeral_range_and_vanish_when_it_covers_everything():
    assert ports.candidate_ranges((32768, 60999)) == [(10000, 32767), (61000, 65535)]
    assert ports.candidate_ranges((10050, 65535)) == []  # nothing usable: the caller falls back


def test_free_port_falls_back_to_the_kernel_when_no_range_is_usable(monkeypatch):
    low, high = ports.ephemeral_range()  # where the kernel's own choice lands
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (1024, 65535))
    port = ports.free_port()
    assert low <= port <= high
