#!/usr/bin/env bash
# THE test command of Gatehouse (README, CI): prepares the environment, then runs
#   1. the SP interop harness self-test (interop/sp/selftest.py),
#   2. cargo fmt --check,
#   3. cargo clippy on every target with -D warnings,
#   4. the doc tests (when there are any), then every other test (cargo-nextest when installed, else cargo test).
# Peers (python SAML libraries, xmlsec1, PostgreSQL) are REQUIRED here: tests fail instead of
# skipping when one is missing (GATEHOUSE_REQUIRE_PEERS=1).
#
# Environment:
#   GATEHOUSE_SKIP_SETUP=1  skip scripts/setup-test-env.sh (environment already prepared)
#   GATEHOUSE_VENV          venv location (default: <repo>/.venv)
#   GATEHOUSE_TEST_PG_URL   PostgreSQL URL (default: the one setup-test-env.sh creates)
#   GATEHOUSE_METADATA_FIXTURES  metadata fixture folder (default: <repo>/../shared/... if present)
#   CI=true                 set by CI; see the build settings below
# Extra arguments are appended to the nextest (or cargo test) command, e.g. a test-name filter:
# `scripts/test.sh authn_request`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

step() { echo "==> $*" >&2; }
SECONDS=0

if [ "${GATEHOUSE_SKIP_SETUP:-0}" != 1 ]; then
    step "setup (scripts/setup-test-env.sh)"
    bash "$REPO/scripts/setup-test-env.sh" >/dev/null
fi

VENV="${GATEHOUSE_VENV:-$REPO/.venv}"
export GATEHOUSE_PYTHON="$VENV/bin/python"
export GATEHOUSE_TEST_PG_URL="${GATEHOUSE_TEST_PG_URL:-postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse_test}"
export GATEHOUSE_REQUIRE_PEERS=1
# Real-world metadata fixtures live in shared/, which CI places beside the clone; the tests
# look there by default (relative to the repository) and skip when the folder is absent.
if [ -z "${GATEHOUSE_METADATA_FIXTURES:-}" ] && [ -d "$REPO/../shared/fixtures/metadata" ]; then
    export GATEHOUSE_METADATA_FIXTURES="$(cd "$REPO/../shared/fixtures/metadata" && pwd)"
fi
[ -x "$GATEHOUSE_PYTHON" ] || { echo "no python at $GATEHOUSE_PYTHON; run scripts/setup-test-env.sh" >&2; exit 1; }

# Build settings.
# - clippy and the test build cannot share compiled code (clippy only type-checks, producing
#   metadata; tests need machine code), but they do share build-script runs (aws-lc-sys's C
#   build is the slowest one). Nothing else is built twice: doc tests and nextest reuse the
#   same dev-profile libraries.
# - On CI the clone is fresh, so incremental compilation only costs time and disk: turn it off.
#   Locally it stays as configured, so this script reuses the developer's target/ dir without
#   rebuilding everything (changing CARGO_INCREMENTAL changes the workspace crates' fingerprints).
if [ "${CI:-}" = true ]; then
    export CARGO_INCREMENTAL=0
    export CARGO_TERM_COLOR=never
fi

# Every check runs even when an earlier one failed, so one CI run reports all problems; the
# script exits non-zero at the end if any failed.
failed=()
run_step() {
    local name="$1"
    shift
    local start=$SECONDS
    step "$name"
    if "$@"; then
        step "ok: $name ($((SECONDS - start))s)"
    else
        step "FAILED: $name ($((SECONDS - start))s)"
        failed+=("$name")
    fi
}

run_step "interop/sp self-test" "$GATEHOUSE_PYTHON" "$REPO/interop/sp/selftest.py"
run_step "cargo fmt --check" cargo fmt --all -- --check
run_step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
# Doc tests before the main run: nextest does not run them, and the last runner's summary is the
# one a reader (or CI) looks at. rustdoc compiles every library again (about 3.5 minutes here), so
# the step runs only when some doc comment holds a code block.
if grep -rqE '^\s*//[/!]\s*```' crates --include='*.rs'; then
    run_step "cargo test --doc" cargo test --workspace --doc
fi
if cargo nextest --version >/dev/null 2>&1; then
    run_step "cargo nextest run" cargo nextest run --workspace --no-fail-fast "$@"
else
    run_step "cargo test" cargo test --workspace --no-fail-fast "$@"
fi

if [ "${#failed[@]}" -gt 0 ]; then
    step "FAILED after ${SECONDS}s: $(IFS=,; echo "${failed[*]}")"
    exit 1
fi
step "all checks passed in ${SECONDS}s"
