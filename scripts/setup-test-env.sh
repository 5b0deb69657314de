#!/usr/bin/env bash
# Prepares everything the Gatehouse test suite needs besides the Rust toolchain:
#   - Debian packages: xmlsec1 (independent XML-DSig verifier), libxml2-utils (xmllint),
#     PostgreSQL 15, and the headers needed to build python xmlsec from source as a fallback;
#   - a Python venv with the third-party SAML peers (pysaml2, python3-saml) and SCIM peers
#     (scim2-tester, scim2-server, scim2-client), pinned in interop/requirements.txt;
#   - the Node.js SAML peer samlify (IdP side of crates/cloudsso/tests/it/idp_interop.rs), pinned in
#     interop/package.json + package-lock.json, installed with `npm ci` into interop/node_modules;
#   - a running PostgreSQL 15 cluster with role `gatehouse` (password `gatehouse`) owning
#     database `gatehouse_test`.
#
# Idempotent: a second run only checks and prints. Works as root, or as a user with sudo.
# Logs go to stderr; stdout gets `export NAME=value` lines, so `eval "$(scripts/setup-test-env.sh)"`
# works.
#
# Environment overrides:
#   GATEHOUSE_VENV              venv location (default: <repo>/.venv)
#   GATEHOUSE_BOOTSTRAP_PYTHON  interpreter that creates the venv (default: python3)
#   GATEHOUSE_SKIP_PG=1         do not touch PostgreSQL
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GATEHOUSE_VENV:-$REPO/.venv}"
BOOTSTRAP_PYTHON="${GATEHOUSE_BOOTSTRAP_PYTHON:-}"
REQUIREMENTS="$REPO/interop/requirements.txt"
PG_VERSION=15
PG_CLUSTER=main
PG_PORT=5432
PG_ROLE=gatehouse
PG_PASSWORD=gatehouse
PG_DB=gatehouse_test
PG_URL="postgres://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"

log() { echo "[setup] $*" >&2; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
    as_postgres() { runuser -u postgres -- "$@"; }
else
    command -v sudo >/dev/null || die "not root and sudo is not installed"
    as_root() { sudo -n "$@"; }
    as_postgres() { sudo -n -u postgres "$@"; }
fi

# ---------------------------------------------------------------- Debian packages
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

# Headless Chromium and ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver) for the browser
# test crates/gatehouse/tests/it/browser.rs; fonts-liberation so its failure screenshots show text.
BROWSER_PKGS=(chromium chromium-driver fonts-liberation)

missing=()
for pkg in xmlsec1 libxml2-utils libxmlsec1-dev libxml2-dev pkg-config python3-venv \
           "postgresql-$PG_VERSION" postgresql-client-common "${BROWSER_PKGS[@]}"; do
    pkg_installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    ok=0
    for attempt in 1 2 3; do
        if as_root apt-get update -qq >&2 \
            && as_root apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}" >&2; then
            ok=1
            break
        fi
        log "apt-get failed (attempt $attempt), retrying"
        sleep $((attempt * 5))
    done
    [ "$ok" -eq 1 ] || die "apt-get install ${missing[*]} failed"
else
    log "Debian packages present"
fi
command -v xmlsec1 >/dev/null || die "xmlsec1 not on PATH after install"
log "$(xmlsec1 --version)"
# Browser test peers (see BROWSER_PKGS above).
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || die "chromium/chromedriver missing after install"
log "$(/usr/bin/chromedriver --version)"

# ---------------------------------------------------------------- Python venv
if [ -z "$BOOTSTRAP_PYTHON" ]; then
    # The machine's python3 (pyenv CPython 3.11 here), else Debian's (python3-venv installed above).
    BOOTSTRAP_PYTHON=/usr/bin/python3
    if command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; then
        BOOTSTRAP_PYTHON=python3
    fi
fi
if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV with $($BOOTSTRAP_PYTHON --version 2>&1)"
    "$BOOTSTRAP_PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

peers_import_ok() {
    "$PY" -W ignore - <<'EOF' >&2
import lxml.etree
import xmlsec  # raises "lxml & xmlsec libxml2 library version mismatch" on a bad pair
import saml2
import saml2.client
import saml2.server
import onelogin.saml2.auth
import scim2_tester
import scim2_server.testserver.application
import scim2_client.engines.httpx2
import scim2_models
from importlib.metadata import version
print("[setup] python peers: lxml %s (libxml2 %s), xmlsec %s (libxml2 %s), pysaml2 %s, python3-saml %s" % (
    version("lxml"), ".".join(map(str, lxml.etree.LIBXML_VERSION)),
    version("xmlsec"), ".".join(map(str, xmlsec.get_libxml_version())),
    version("pysaml2"), version("python3-saml")))
print("[setup] python SCIM peers: scim2-tester %s, scim2-server %s, scim2-client %s (httpx2 %s), scim2-models %s" % (
    version("scim2-tester"), version("scim2-server"), version("scim2-client"), version("httpx2"),
    version("scim2-models")))
EOF
}

# The stamp records which requirements file content the venv was last synced with, so a
# re-run skips pip (pip's own "already satisfied" pass costs a few seconds).
STAMP="$VENV/.gatehouse-requirements.sha256"
want_hash="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_hash" ] && peers_import_ok; then
    log "venv $VENV up to date"
else
    log "installing interop/requirements.txt into $VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS" >&2
    if ! peers_import_ok; then
        # Typical cause: lxml and xmlsec wheels bundling different libxml2 versions. Build both
        # from source against the system libxml2/libxmlsec1 so they share one libxml2.
        log "import check failed; rebuilding lxml and xmlsec from source against system libxml2"
        lxml_pin="$(grep -E '^lxml==' "$REQUIREMENTS")"
        xmlsec_pin="$(grep -E '^xmlsec==' "$REQUIREMENTS")"
        "$PY" -m pip install --quiet --disable-pip-version-check --no-input --force-reinstall \
            --no-deps --no-binary lxml,xmlsec "$lxml_pin" "$xmlsec_pin" >&2
        peers_import_ok || die "python SAML/SCIM peers still do not import; see errors above"
    fi
    echo "$want_hash" >"$STAMP"
fi

# ---------------------------------------------------------------- Node.js peers
# samlify (+ its offline schema validator) for interop/idp/samlify_idp.js. Node >= 18 is needed
# (the machine's NodeSource node 20, else Debian's nodejs/npm). The stamp records the lock file
# content node_modules was installed from, so a re-run skips `npm ci` (which wipes node_modules).
NODE_DIR="$REPO/interop"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "installing Debian packages: nodejs npm"
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -o Dpkg::Use-Pty=0 \
        --no-install-recommends nodejs npm >&2 || die "apt-get install nodejs npm failed"
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || die "node $(node --version) is too old for the samlify peer (need >= 18)"
NODE_STAMP="$NODE_DIR/node_modules/.gatehouse-package-lock.sha256"
node_want="$(cat "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)"
node_peers_ok() {
    (cd "$NODE_DIR" && node -e '
        const s = require("samlify"); require("@authenio/samlify-node-xmllint");
        require("@node-saml/node-saml");
        console.error("[setup] node peers: node " + process.versions.node + ", samlify " +
            require("samlify/package.json").version + ", node-saml " +
            require("@node-saml/node-saml/package.json").version);') >&2
}
if [ -f "$NODE_STAMP" ] && [ "$(cat "$NODE_STAMP")" = "$node_want" ] && node_peers_ok; then
    log "interop/node_modules up to date"
else
    log "installing interop/package-lock.json into interop/node_modules (npm ci)"
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci in interop/ failed"
    node_peers_ok || die "samlify or node-saml does not load after npm ci; see errors above"
    echo "$node_want" >"$NODE_STAMP"
fi

# ---------------------------------------------------------------- PostgreSQL
if [ "${GATEHOUSE_SKIP_PG:-0}" != 1 ]; then
    cluster_line() { pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c'; }
    if [ -z "$(cluster_line)" ]; then
        log "creating PostgreSQL cluster $PG_VERSION/$PG_CLUSTER"
        as_root pg_createcluster --port "$PG_PORT" "$PG_VERSION" "$PG_CLUSTER" >&2
    fi
    port="$(cluster_line | awk '{print $3}')"
    [ "$port" = "$PG_PORT" ] || die "cluster $PG_VERSION/$PG_CLUSTER listens on port $port, expected $PG_PORT"
    if [ "$(cluster_line | awk '{print $4}')" != online ]; then
        log "starting PostgreSQL $PG_VERSION/$PG_CLUSTER"
        as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start >&2
    fi
    for _ in $(seq 1 120); do
        pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
        sleep 0.5
    done
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || die "PostgreSQL did not become ready on 127.0.0.1:$PG_PORT"

    # CREATEDB lets tests make throwaway databases (e.g. one per test) besides gatehouse_test.
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres >&2 <<EOF
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
        CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
    ELSE
        ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
    END IF;
END
\$\$;
EOF
    if [ -z "$(as_postgres psql -X -qAt -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" ]; then
        log "creating database $PG_DB"
        as_postgres createdb -O "$PG_ROLE" "$PG_DB"
    fi
    psql -X -qAt "$PG_URL" -c 'SELECT 1' >/dev/null || die "cannot connect to $PG_URL"
    log "PostgreSQL ready: $PG_URL"
fi

export GATEHOUSE_PYTHON="$PY"
export GATEHOUSE_TEST_PG_URL="$PG_URL"
echo "export GATEHOUSE_PYTHON=$PY"
echo "export GATEHOUSE_TEST_PG_URL=$PG_URL"
