#!/bin/bash
# Installs, from Debian, the programs rb's tests run for real, when they are missing. Fails
# loudly (never skips a test silently) when one cannot be installed.
set -euo pipefail

# command  package            (`deps.sh bench` adds what make bench compares against)
needed=(
    "sha256sum coreutils"
    "bash bash"
    "nginx nginx"
)
if [ "${1-}" = bench ]; then
    needed+=("rsync rsync" "python3 python3" "du coreutils")
fi

# nginx lives in /usr/sbin, which a non-root PATH may not have.
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
for pair in "${needed[@]}"; do
    read -r cmd pkg <<<"$pair"
    have "$cmd" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
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
for pair in "${needed[@]}"; do
    read -r cmd pkg <<<"$pair"
    have "$cmd" || { echo "deps: $cmd (package $pkg) is still missing" >&2; exit 1; }
done
