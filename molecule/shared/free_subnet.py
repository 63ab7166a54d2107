#!/usr/bin/env python3
"""Print the first free /24 prefix (A.B.C) for the multihost scenario's fixed addresses.

    molecule/shared/free_subnet.py

Candidates: 10.213.7, then 10.213.8 ... 10.213.254. A candidate is taken when it overlaps the
subnet of any Docker network or any IPv4 route of this machine (a network of another Docker
engine or a VPN that Docker does not know about). Exit code 1 when every candidate is taken.
"""
import argparse
import ipaddress
import json
import subprocess
import sys


def used_networks():
    nets = []
    ids = subprocess.run(["docker", "network", "ls", "-q"], capture_output=True, text=True, check=True).stdout.split()
    if ids:
        out = subprocess.run(["docker", "network", "inspect", *ids], capture_output=True, text=True, check=True).stdout
        for net in json.loads(out):
            for cfg in (net.get("IPAM") or {}).get("Config") or []:
                if cfg.get("Subnet") and ":" not in cfg["Subnet"]:
                    nets.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True, check=False).stdout
    for line in routes.splitlines():
        dest = line.split()[0] if line.split() else "default"
        if dest != "default":
            nets.append(ipaddress.ip_network(dest if "/" in dest else dest + "/32", strict=False))
    return nets


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    used = used_networks()
    for c in [7, *range(8, 255)]:
        candidate = ipaddress.ip_network(f"10.213.{c}.0/24")
        if not any(candidate.overlaps(n) for n in used):
            print(f"10.213.{c}")
            return 0
    print("free_subnet: every 10.213.x.0/24 is taken", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
