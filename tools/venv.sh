#!/bin/sh
# Create .venv beside this checkout and install rrasctl into it (editable).
#   tools/venv.sh         the product: rrasctl and its runtime dependencies
#   tools/venv.sh test    also the test dependencies (pip), every Debian tool the tests drive, and the labs of
#                         ../shared/lab when that directory is there (decision 0127):
#                           ping (iputils-ping), xl2tpd, tshark/editcap/mergecap (tshark), nft (nftables),
#                           ip and ss (iproute2), setpriv and unshare (util-linux), jq (the README's examples),
#                           systemd-analyze (systemd: the unit's security score; systemd is not started),
#                           strongSwan's charon and swanctl (the IKE interop peer); the SoftEther lab's
#                           softether-vpnserver and softether-vpncmd; the VM lab built by its build.sh (~70 s the
#                           first time, 0.3 s after;
#                           it installs its own host tools: debootstrap, qemu-system-x86, qemu-utils, e2fsprogs).
#                         A lab whose build fails is recorded in $VMLAB_STATE/rrasctl-build.failed (its log's last
#                         lines): its tests then skip naming that reason, which CI=true allows (a failure outside
#                         the project, such as the package archive not answering); every other missing tool or
#                         lab makes a test fail under CI=true.
# Debian's own Python refuses a bare `pip install` (PEP 668), and Debian 12 ships `venv` without ensurepip
# unless python3-venv is installed: that is installed here when needed (as root).
set -eu
cd "$(dirname "$0")/.."
LAB="${RRASCTL_SHARED:-$(cd .. && pwd)/shared}/lab"
root=no
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && root=yes

apt_install() {   # apt_install PKG... : install as root (one apt-get update first), else say what is missing
    [ $# -gt 0 ] || return 0
    if [ "$root" = yes ]; then
        echo "installing Debian packages: $*" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null || echo "note: apt-get update failed; trying the install anyway" >&2
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        echo "note: missing $* (install them as root); continuing" >&2
    fi
}

need=""
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then need="python3-venv"; fi
if [ "${1:-}" = "test" ]; then
    # tool the tests run -> the Debian package that has it
    for pair in ping:iputils-ping xl2tpd:xl2tpd tshark:tshark editcap:tshark mergecap:tshark nft:nftables \
                ip:iproute2 ss:iproute2 setpriv:util-linux unshare:util-linux jq:jq \
                systemd-analyze:systemd swanctl:strongswan-swanctl; do
        tool=${pair%%:*} pkg=${pair#*:}
        command -v "$tool" >/dev/null 2>&1 || need="$need $pkg"
    done
    [ -x /usr/lib/ipsec/charon ] || need="$need strongswan-charon"     # the IKE interop peer (not on PATH)
    if [ -x "$LAB/softether/up.sh" ] && { [ ! -x /usr/libexec/softether/vpnserver/vpnserver ] ||
                                           [ ! -x /usr/libexec/softether/vpncmd/vpncmd ]; }; then
        need="$need softether-vpnserver softether-vpncmd"
    fi
fi
# shellcheck disable=SC2086
apt_install $(printf '%s\n' $need | sort -u)
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
if [ "${1:-}" = "test" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
else
    .venv/bin/python -m pip install -q --disable-pip-version-check -e .
    exit 0
fi

# ---- the VM lab: build it (idempotent); the interop tests boot it when they need it -------------------------
if [ -x "$LAB/vm/build.sh" ]; then
    state="${VMLAB_STATE:-/tmp/vmlab}"
    if [ "$root" = yes ]; then
        mkdir -p "$state"
        if "$LAB/vm/build.sh" > "$state/rrasctl-build.log" 2>&1; then
            rm -f "$state/rrasctl-build.failed"
        else
            tail -5 "$state/rrasctl-build.log" > "$state/rrasctl-build.failed"
            echo "note: the VM lab did not build (its tests will say why): $(tail -1 "$state/rrasctl-build.log")" >&2
        fi
    else
        echo "note: the VM lab ($LAB/vm) is built as root: sudo $LAB/vm/build.sh" >&2
    fi
fi
