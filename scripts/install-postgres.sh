#!/bin/sh
# Install the PostgreSQL server programs (initdb, pg_ctl, postgres) the store's integration tests
# and benchmark use to start a throwaway cluster. Idempotent: exits 0 at once when
# /usr/lib/postgresql/*/bin/initdb is already there. Needs root (CI runs as root) and apt.
# OMS_PG_ROOT overrides /usr/lib/postgresql (for testing this script).
set -eu

PG_ROOT="${OMS_PG_ROOT:-/usr/lib/postgresql}"

have_initdb() {
    for candidate in "$PG_ROOT"/*/bin/initdb; do
        if [ -x "$candidate" ]; then
            echo "PostgreSQL server programs present: $(dirname "$candidate")"
            return 0
        fi
    done
    return 1
}

if have_initdb; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-postgres.sh: PostgreSQL is missing and installing it needs root; run: sudo $0" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-postgres.sh: no apt-get here; install the PostgreSQL server (initdb, pg_ctl) with your package manager" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends postgresql

if ! have_initdb; then
    echo "install-postgres.sh: postgresql installed but no $PG_ROOT/*/bin/initdb found" >&2
    exit 1
fi
