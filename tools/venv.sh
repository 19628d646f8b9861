#!/bin/sh
# Create .venv beside this checkout and install rrasctl into it (editable).
#   tools/venv.sh         the product: rrasctl and its runtime dependencies
#   tools/venv.sh test    also the test dependencies (pip) and the Debian tools the tests drive (tshark, iproute2)
# Debian's own Python refuses a bare `pip install` (PEP 668), and Debian 12 ships `venv` without ensurepip
# unless python3-venv is installed: that is installed here when needed (as root).
set -eu
cd "$(dirname "$0")/.."
need_apt=""
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then need_apt="python3-venv"; fi
if [ "${1:-}" = "test" ]; then
    command -v tshark >/dev/null 2>&1 || need_apt="$need_apt tshark"
    command -v ip >/dev/null 2>&1 || need_apt="$need_apt iproute2"
fi
if [ -n "$need_apt" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian packages:$need_apt" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq $need_apt >/dev/null
    else
        echo "note: missing$need_apt (install them as root); continuing" >&2
    fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
if [ "${1:-}" = "test" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
else
    .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
