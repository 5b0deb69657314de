#!/usr/bin/env python3
"""A third-party SCIM 2.0 server (scim2-server from PyPI) for IDaaS's provisioning tests.

    python target_server.py --token TOKEN [--port 0] [--host 127.0.0.1]

Builds the same WSGI application as the `scim2-server` command (scim2_server/testserver/cli.py:
RFC 7643 schemas, User and Group resource types, the default ServiceProviderConfig with the
bearer scheme announced, in-memory storage, one static bearer token) and serves it in-process
with a threaded wsgiref server. The SCIM base URL is http://HOST:PORT/v2.

Once the socket is bound, one line `LISTENING <port>` goes to stdout (flushed), so a test can
start it with port 0 and read the port. It serves until killed (SIGTERM/SIGINT). Tests read the
remote state back through SCIM GETs; there is no dump or admin path. Request logging goes to
stderr only with --verbose (the default server logs every request, which slows big syncs).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

from scim2_models import ScimProvider
from scim2_models import ServiceProviderConfig
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.utils import load_default_resource_types
from scim2_server.utils import load_default_schemas
from scim2_server.utils import load_default_service_provider_config


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """A WSGI server that serves each request in its own thread (as scim2-server's CLI)."""

    daemon_threads = True
    # The default backlog (5) refuses connections under a concurrent sync; keep them queued.
    request_queue_size = 128


class QuietHandler(WSGIRequestHandler):
    """The wsgiref request handler without the per-request access log line."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - wsgiref's signature
        pass


def build_application(token: str, config_overrides: dict[str, Any] | None) -> BearerTokenApplication:
    """The scim2-server application of the CLI: default schemas and resource types, one bearer token."""
    config = load_default_service_provider_config()
    if config_overrides:
        merged = config.model_dump(mode="json", exclude_none=True)
        merged.update(config_overrides)
        config = ServiceProviderConfig.model_validate(merged)
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    secret = os.environ.get("SCIM2_SERVER_SECRET") or secrets.token_urlsafe(32)
    service = ScimService(provider, secret=secret)
    return BearerTokenApplication(InMemoryStorage(), provider, service=service, bearer_tokens=[token])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token", required=True, help="the one bearer token the server accepts")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="listen port (default 0: any free port)")
    parser.add_argument(
        "--config",
        metavar="JSON",
        help='ServiceProviderConfig members to override, as JSON, e.g. \'{"patch": {"supported": false}}\'',
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()

    overrides = json.loads(args.config) if args.config else None
    app = build_application(args.token, overrides)
    handler = WSGIRequestHandler if args.verbose else QuietHandler

    # SIGTERM ends serve_forever through KeyboardInterrupt, as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with make_server(args.host, args.port, app, server_class=ThreadingWSGIServer, handler_class=handler) as server:
        port = server.server_address[1]
        print(f"LISTENING {port}", flush=True)
        print(f"scim2-server: SCIM base URL http://{args.host}:{port}/v2", file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
