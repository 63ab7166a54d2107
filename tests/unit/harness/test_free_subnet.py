# -*- coding: utf-8 -*-
"""molecule/shared/free_subnet.py: the multihost scenario's /24 overlaps no Docker network and no route."""
from __future__ import annotations

import json
import subprocess

import pytest


@pytest.fixture()
def free_subnet(load_script):
    return load_script("molecule/shared/free_subnet.py")


def machine(monkeypatch, module, subnets, routes):
    """Fake `docker network ls/inspect` and `ip -4 route show` answers."""
    def run(argv, **_):
        if argv[:3] == ["docker", "network", "ls"]:
            out = "\n".join(f"id{i}" for i in range(len(subnets)))
        elif argv[:3] == ["docker", "network", "inspect"]:
            out = json.dumps([{"Name": f"net{i}", "IPAM": {"Config": [{"Subnet": s} for s in group]}}
                              for i, group in enumerate(subnets)])
        elif argv[:2] == ["ip", "-4"]:
            out = "\n".join(routes)
        else:
            raise AssertionError(argv)
        return subprocess.CompletedProcess(argv, 0, out, "")
    monkeypatch.setattr(module.subprocess, "run", run)


@pytest.mark.parametrize("subnets, routes, expected", [
    ([], ["default via 172.17.0.1 dev eth0"], "10.213.7"),
    ([["172.17.0.0/16"], ["fd00::/64"]], [], "10.213.7"),
    ([["10.213.7.0/24"]], [], "10.213.8"),
    # a smaller network inside the default /24 and a route to a host in the next one
    ([["10.213.7.128/25"]], ["10.213.8.5 dev tun0 scope link"], "10.213.9"),
    # a network that contains every 10.213.x candidate before 10.213.32.0
    ([["10.213.0.0/19"]], [], "10.213.32"),
    ([], ["10.213.7.0/24 dev br-1 proto kernel scope link src 10.213.7.1"], "10.213.8"),
], ids=["empty", "other-networks", "default-taken", "inside-and-route", "containing", "route-only"])
def test_first_free_prefix(monkeypatch, capsys, free_subnet, subnets, routes, expected):
    machine(monkeypatch, free_subnet, subnets, routes)
    monkeypatch.setattr("sys.argv", ["free_subnet.py"])
    assert free_subnet.main() == 0
    assert capsys.readouterr().out.strip() == expected


def test_every_candidate_taken(monkeypatch, capsys, free_subnet):
    machine(monkeypatch, free_subnet, [["10.0.0.0/8"]], [])
    monkeypatch.setattr("sys.argv", ["free_subnet.py"])
    assert free_subnet.main() == 1
    assert "taken" in capsys.readouterr().err
