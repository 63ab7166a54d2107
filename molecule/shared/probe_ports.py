#!/usr/bin/env python3
"""Probe every TCP port of a host concurrently and print the ones that accept a connection.

    probe_ports.py HOST [FIRST-LAST] [--expect PORT,PORT,...] [--concurrency N] [--timeout S]

HOST is an address or a name; the range defaults to 1-65535. Prints one JSON line:
{"host", "range", "open": [...], "filtered": N, "seconds", and with --expect also "expected",
"unexpected", "missing"}. "filtered" counts ports that neither accepted nor refused within the
timeout, twice (a firewall dropping packets); they count as closed.
Exit code: 0 when --expect is not given or the open set equals it, 1 when it differs, 2 on usage.
Standard library only (non-blocking connects, one selector), so it runs in any python3 image,
e.g. from a container attached to the instance's network:
    docker run --rm --network NET -v $PWD/molecule/shared/probe_ports.py:/probe.py:ro IMAGE python3 /probe.py IP
All 65535 ports of a host on a Docker bridge take about 3 s.
"""
import argparse
import errno
import json
import selectors
import socket
import sys
import time


def port_range(text):
    first, _, last = text.partition("-")
    first, last = int(first), int(last or first)
    if not 1 <= first <= last <= 65535:
        raise argparse.ArgumentTypeError(f"bad port range {text}")
    return first, last


def port_list(text):
    return sorted({int(p) for p in text.split(",") if p.strip()})


def scan(host, port_numbers, concurrency, timeout):
    """Return (open ports, ports that timed out)."""
    family, _, _, _, sockaddr = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0]
    ip = sockaddr[0]
    sel = selectors.DefaultSelector()
    ports = iter(port_numbers)
    opened, filtered, pending = [], [], {}
    exhausted = False
    while True:
        while not exhausted and len(pending) < concurrency:
            port = next(ports, None)
            if port is None:
                exhausted = True
                break
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            rc = sock.connect_ex((ip, port))
            if rc in (errno.EINPROGRESS, errno.EWOULDBLOCK):
                pending[sock] = (port, time.monotonic() + timeout)
                sel.register(sock, selectors.EVENT_WRITE)
                continue
            if rc == 0:
                opened.append(port)
            sock.close()
        if not pending:
            break
        for key, _ in sel.select(0.2):
            sock = key.fileobj
            port, _ = pending.pop(sock)
            sel.unregister(sock)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                opened.append(port)
            sock.close()
        now = time.monotonic()
        for sock, (port, deadline) in list(pending.items()):
            if deadline < now:
                filtered.append(port)
                sel.unregister(sock)
                sock.close()
                del pending[sock]
    return sorted(opened), sorted(filtered)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("range", nargs="?", type=port_range, default=(1, 65535), help="FIRST-LAST (default 1-65535)")
    parser.add_argument("--expect", type=port_list, default=None, help="comma-separated ports that must be open")
    parser.add_argument("--concurrency", type=int, default=2000, help="connects in flight (default 2000)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per connect (default 2)")
    args = parser.parse_args()
    started = time.monotonic()
    opened, silent = scan(args.host, range(args.range[0], args.range[1] + 1), args.concurrency, args.timeout)
    # On a loaded machine a listening port can miss the first deadline: try the silent ones
    # again, fewer at a time and with a longer timeout.
    filtered = []
    if silent:
        again, filtered = scan(args.host, silent, 100, args.timeout * 2)
        opened = sorted(opened + again)
    out = {"host": args.host, "range": f"{args.range[0]}-{args.range[1]}", "open": opened, "filtered": len(filtered),
           "seconds": round(time.monotonic() - started, 1)}
    if args.expect is not None:
        out.update(expected=args.expect, unexpected=sorted(set(opened) - set(args.expect)),
                   missing=sorted(set(args.expect) - set(opened)))
    print(json.dumps(out))
    sys.exit(1 if args.expect is not None and opened != args.expect else 0)
