#!/bin/bash
# Installs, from Debian, the programs rb's tests run for real, when they are missing. Fails
# loudly (never skips a test silently) when one cannot be installed. `deps.sh deb`: cargo-deb.
set -euo pipefail

# `deps.sh deb` (make deb): cargo-deb only, built from crates.io by cargo itself when missing,
# pinned to the version `make deb` was written against. It is not part of `make test`: the
# install compiles for minutes, and the test of `make deb` says it did not run without it.
if [ "${1-}" = deb ]; then
    cargo=${CARGO:-cargo}
    version=3.8.0
    if ! "$cargo" deb --version >/dev/null 2>&1; then
        echo "deps: installing cargo-deb $version (cargo install cargo-deb --locked)" >&2
        "$cargo" install cargo-deb --version "$version" --locked
    fi
    "$cargo" deb --version >/dev/null 2>&1 || { echo "deps: cargo deb still does not run" >&2; exit 1; }
    exit 0
fi

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
    "man man-db"
    "docker-compose docker-compose"
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

# The Docker tests build their images FROM scratch around a static busybox: Debian's
# busybox-static (the plain busybox package is dynamically linked and cannot run there).
static_busybox() { [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; }
static_busybox || missing+=("busybox-static")

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

start_docker() {
    # The real-engine tests need a running Docker daemon: this machine kind starts one before
    # the session; if it is not running (a CI state that lost it), start it here.
    command -v docker >/dev/null 2>&1 && [ -x /usr/sbin/dockerd ] || return 0
    docker info >/dev/null 2>&1 && return 0
    [ "$(id -u)" -eq 0 ] || return 0
    echo "deps: starting the Docker daemon" >&2
    service docker start >/dev/null 2>&1 || (nohup /usr/sbin/dockerd >/tmp/rb-dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "deps: the Docker daemon did not start (see /tmp/rb-dockerd.log)" >&2
}

if [ ${#missing[@]} -eq 0 ]; then
    install_python_packages
    start_docker
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
static_busybox || { echo "deps: /bin/busybox is not the static one (package busybox-static)" >&2; exit 1; }
start_docker
