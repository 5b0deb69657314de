#!/usr/bin/env python3
"""Requests per second of `GET {url}/Users?filter=userName eq "…"` against a SCIM server.

    python bench_filter.py --url URL --token TOKEN [--seed 1000] [-n 2000] [-c 1] [--warmup 50]

With --seed M it first makes sure M users `bench-000000`… exist (POST /Users; a 409 means the
user is already there), then issues -n requests that cycle through those user names, over
-c threads (each with its own keep-alive httpx2 connection; -c 1 is sequential). Without --seed,
pass the user names to look up with --user (repeatable).

Every response must be 200 with totalResults == 1 and exactly one resource whose userName
matches (compared case-insensitively, as RFC 7643 defines userName); anything else stops the
run with exit status 1. On success one JSON line goes to stdout:
{url, requests, concurrency, seconds, req_per_s, latency_ms: {p50, p90, p99, max}}.

Note: scim2-server serves HTTP/1.0 through wsgiref and closes every connection, so against it
each request pays a TCP connect; the client side is the same for both servers.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import httpx2

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


class BenchFailure(Exception):
    """A response that is not the one expected."""


def make_client(url: str, token: str, timeout: float) -> httpx2.Client:
    """A keep-alive client for the SCIM base URL, with the bearer token."""
    headers = {"Accept": "application/scim+json", "Authorization": f"Bearer {token}"}
    return httpx2.Client(base_url=url.rstrip("/") + "/", headers=headers, timeout=timeout)


def seed(client: httpx2.Client, count: int) -> list[str]:
    """Makes sure users bench-000000 … exist; returns their userNames."""
    names = [f"bench-{i:06d}" for i in range(count)]
    for name in names:
        body = {"schemas": [USER_SCHEMA], "userName": name, "active": True}
        r = client.post("Users", json=body, headers={"Content-Type": "application/scim+json"})
        if r.status_code not in (201, 409):
            raise BenchFailure(f"seeding {name}: HTTP {r.status_code}: {r.text[:500]}")
    return names


def lookup(client: httpx2.Client, name: str) -> float:
    """One filtered GET; checks the answer and returns its latency in seconds."""
    start = time.perf_counter()
    r = client.get("Users", params={"filter": f'userName eq "{name}"'})
    elapsed = time.perf_counter() - start
    if r.status_code != 200:
        raise BenchFailure(f"{name}: HTTP {r.status_code}: {r.text[:500]}")
    body: Any = r.json()
    resources = body.get("Resources") or []
    if body.get("totalResults") != 1 or len(resources) != 1:
        raise BenchFailure(f"{name}: expected exactly 1 result, got {json.dumps(body)[:500]}")
    if str(resources[0].get("userName", "")).lower() != name.lower():
        raise BenchFailure(f"{name}: the result is {resources[0].get('userName')!r}")
    return elapsed


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of sorted values, in milliseconds."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values))) - 1))
    return round(sorted_values[rank] * 1000, 3)


def run(url: str, token: str, names: list[str], total: int, concurrency: int, timeout: float) -> dict[str, Any]:
    """Issues `total` lookups over `concurrency` threads; returns the measurement."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    per_thread = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)

    def worker(index: int, count: int) -> None:
        local: list[float] = []
        with make_client(url, token, timeout) as client:
            barrier.wait()
            try:
                for i in range(count):
                    if errors:
                        return
                    local.append(lookup(client, names[(index + i * concurrency) % len(names)]))
            except (BenchFailure, httpx2.HTTPError, ValueError) as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(i, n)) for i, n in enumerate(per_thread)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise BenchFailure(errors[0])
    if len(latencies) != total:
        raise BenchFailure(f"{len(latencies)} of {total} requests completed")
    latencies.sort()
    return {
        "url": url,
        "requests": total,
        "concurrency": concurrency,
        "users": len(names),
        "seconds": round(seconds, 3),
        "req_per_s": round(total / seconds, 1),
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p90": percentile(latencies, 90),
            "p99": percentile(latencies, 99),
            "max": percentile(latencies, 100),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="SCIM base URL")
    parser.add_argument("--token", required=True, help="bearer token")
    parser.add_argument("--seed", type=int, default=0, help="create (if missing) and query M users bench-NNNNNN")
    parser.add_argument("--user", action="append", default=[], help="an existing userName to query (repeatable)")
    parser.add_argument("-n", "--requests", type=int, default=2000, help="measured requests (default 2000)")
    parser.add_argument("-c", "--concurrency", type=int, default=1, help="client threads (default 1: sequential)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured requests first (default 50)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    args = parser.parse_args()
    if args.requests < 1 or args.concurrency < 1:
        parser.error("-n and -c must be at least 1")

    try:
        with make_client(args.url, args.token, args.timeout) as client:
            names = list(args.user) + (seed(client, args.seed) if args.seed else [])
            if not names:
                parser.error("give --seed M or at least one --user NAME")
            for i in range(args.warmup):
                lookup(client, names[i % len(names)])
        result = run(args.url, args.token, names, args.requests, args.concurrency, args.timeout)
    except (BenchFailure, httpx2.HTTPError, ValueError) as exc:
        print(f"bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
