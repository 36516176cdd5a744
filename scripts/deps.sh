#!/bin/bash
# Installs, from Debian, the programs rb's tests run for real, when they are missing. Fails
# loudly (never skips a test silently) when one cannot be installed.
set -euo pipefail

# command  package            (`deps.sh bench` adds what make bench compares against)
needed=(
    "sha256sum coreutils"
    "bash bash"
    "nginx nginx"
    "python3 python3"
    "sqlite3 sqlite3"
    "redis-server redis-server"
    "script bsdutils"
    "pg_ctlcluster postgresql"
    "pg_dump postgresql-client"
    "runuser util-linux"
    "setfacl acl"
    "getfacl acl"
    "setfattr attr"
    "getfattr attr"
    "setcap libcap2-bin"
    "getcap libcap2-bin"
    "find findutils"
    "du coreutils"
)
if [ "${1-}" = bench ]; then
    needed+=("rsync rsync" "python3 python3" "du coreutils")
fi

# nginx lives in /usr/sbin, which a non-root PATH may not have; `python3 -m venv` needs ensurepip,
# which Debian ships apart (python3-venv).
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
venv_ok() { python3 -c 'import ensurepip, venv' >/dev/null 2>&1; }

missing=()
for pair in "${needed[@]}"; do
    read -r cmd pkg <<<"$pair"
    have "$cmd" || missing+=("$pkg")
done

have python3 && venv_ok || missing+=("python3-venv")

install_python_packages() {
    # The Python packages of the tests (Django, …), pinned in tests/requirements.txt, in .venv;
    # made again when the requirements change.
    local here stamp
    here=$(cd "$(dirname "$0")/.." && pwd)
    stamp="$here/.venv/.requirements.sha256"
    if [ -x "$here/.venv/bin/python" ] && sha256sum --status -c "$stamp" 2>/dev/null; then
        return 0
    fi
    echo "deps: installing tests/requirements.txt into .venv" >&2
    rm -rf "$here/.venv"
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/tests/requirements.txt"
    sha256sum "$here/tests/requirements.txt" >"$stamp"
}

if [ ${#missing[@]} -eq 0 ]; then
    install_python_packages
    exit 0
fi
echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
else
    sudo=
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
venv_ok || { echo "deps: python3 -m venv still does not work (package python3-venv)" >&2; exit 1; }
for pair in "${needed[@]}"; do
    read -r cmd pkg <<<"$pair"
    have "$cmd" || { echo "deps: $cmd (package $pkg) is still missing" >&2; exit 1; }
done
install_python_packages
