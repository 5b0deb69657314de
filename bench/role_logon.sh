#!/usr/bin/env bash
# One command for the role-logon round-trip benchmark: builds the release binary, starts
# `gatehouse up` in a throw-away data directory on free ports, runs bench/role_logon.py against it,
# and stops it. Usage: bench/role_logon.sh [seconds]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
cargo build --release -q -p gatehouse
DATA="$(mktemp -d)"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
GATEHOUSE_LOG=warn target/release/gatehouse up --data-dir "$DATA" \
    --idaas-port "$(port)" --cloudsso-port "$(port)" --demo-sp-port "$(port)" >/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do [ -s "$DATA/demo.json" ] && break; sleep 0.2; done
sleep 0.5
python3 "$REPO/bench/role_logon.py" "$DATA/demo.json" "${1:-10}"
