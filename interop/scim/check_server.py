#!/usr/bin/env python3
"""Run scim2-tester (a SCIM 2.0 compliance checker we did not write) against a SCIM server.

    python check_server.py --url http://127.0.0.1:8080/scim/v2 --token TOKEN [--json OUT]

Every check of scim2_tester.check_server runs (all tags, all resource types the server
publishes). One line per check goes to stdout: `STATUS  [ResourceType] title: reason`, then a
line `SUMMARY <json>` holding {total, by_status, failed, failures: [...]}; --json OUT also writes
that summary to a file (with the server data attached to each failure, for debugging).

A check "failed" when its status is ERROR (a MUST of RFC 7643/7644 violated) or CRITICAL (a
security risk or a fundamental protocol violation): scim2_tester.Status. DEVIATION (a SHOULD not
followed) is reported but only fails the run with --strict. SKIPPED checks are those whose
prerequisites are missing (e.g. a feature the server does not announce).

Exit status: 0 when no check failed, 1 when one did, 2 when the checker itself could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

FAILED = ("ERROR", "CRITICAL")


def _jsonable(value: Any, limit: int = 4000) -> Any:
    """The debugging data of a check result, as JSON (long texts cut at `limit` characters)."""
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        try:
            value = value.model_dump(mode="json", exclude_none=True)
        except Exception:  # noqa: BLE001 - best effort, only for display
            value = repr(value)
    try:
        text = json.dumps(value, default=repr)
    except (TypeError, ValueError):
        text = json.dumps(repr(value))
    if len(text) > limit:
        return text[:limit] + "…"
    return json.loads(text)


def run(url: str, token: str | None, timeout: float, resource_types: list[str] | None) -> list[Any]:
    """Run every scim2-tester check against the server at `url`; returns the CheckResults."""
    import httpx2
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import check_server

    headers = {"Accept": "application/scim+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    http = httpx2.Client(base_url=url, headers=headers, timeout=timeout)
    client = SyncSCIMClient(http)
    try:
        return check_server(client, resource_types=resource_types)
    finally:
        http.close()


def summarize(results: list[Any], strict: bool) -> dict[str, Any]:
    """The summary of a run: counts by status and the failed checks."""
    failing = FAILED + (("DEVIATION",) if strict else ())
    by_status = Counter(r.status.name for r in results)
    failures = [
        {
            "status": r.status.name,
            "resource_type": r.resource_type,
            "title": r.title,
            "description": (r.description or "").strip(),
            "reason": r.reason,
            "data": _jsonable(r.data),
        }
        for r in results
        if r.status.name in failing
    ]
    return {
        "total": len(results),
        "by_status": dict(sorted(by_status.items())),
        "failed": len(failures),
        "strict": strict,
        "failures": failures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2")
    parser.add_argument("--token", help="bearer credential (sent as `Authorization: Bearer TOKEN`)")
    parser.add_argument("--json", metavar="OUT", help="also write the summary (with failure data) to OUT")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    parser.add_argument("--resource-type", action="append", help="only these resource types (repeatable)")
    parser.add_argument("--strict", action="store_true", help="DEVIATION (SHOULD not followed) fails too")
    args = parser.parse_args()

    try:
        results = run(args.url, args.token, args.timeout, args.resource_type)
    except Exception as exc:  # noqa: BLE001 - report why the checker could not run at all
        print(f"checker could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2

    for r in results:
        rt = f"[{r.resource_type}] " if r.resource_type else ""
        reason = (r.reason or "").replace("\n", " | ")
        print(f"{r.status.name:<10} {rt}{r.title}: {reason}")

    summary = summarize(results, args.strict)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    compact = dict(summary)
    # stdout keeps the summary to one readable line: no server data, the description's first line.
    compact["failures"] = [
        {**{k: v for k, v in f.items() if k != "data"}, "description": f["description"].split("\n")[0]}
        for f in summary["failures"]
    ]
    print("SUMMARY " + json.dumps(compact), flush=True)
    return 1 if summary["failed"] or summary["total"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
