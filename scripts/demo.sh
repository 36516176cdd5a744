#!/bin/bash
# The main job on an embedded default: a sandbox copy of the helpdesk project in a temporary
# folder, a real snapshot → break → dry run → restore → undo cycle, every command and document
# printed. It leaves the checkout as it was (everything happens in the sandbox) and exits
# non-zero if any step does not do what it says.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${RB_BIN_DIR:-$repo/target/debug}
for tool in rb-snapshot rb-restore; do
    [ -x "$bin/$tool" ] || { echo "demo: $bin/$tool is missing; run 'make demo' (it builds first)" >&2; exit 1; }
done
export PATH="$bin:$PATH"

sandbox=$(mktemp -d "${TMPDIR:-/tmp}/rb-demo.XXXXXX")
trap 'rm -rf "$sandbox"' EXIT
cp -a "$repo/tests/fixtures/helpdesk" "$sandbox/helpdesk"
chmod 600 "$sandbox/helpdesk/nginx/ssl/helpdesk.key"
cd "$sandbox/helpdesk"
cp -a . "$sandbox/pristine"

bold=; plain=
if [ -t 1 ]; then bold=$(tput bold 2>/dev/null || true); plain=$(tput sgr0 2>/dev/null || true); fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
show() {   # prints a command, runs it, prints its documents (long ones cut at 400 characters)
    printf '%s$ %s%s\n' "$bold" "$*" "$plain"
    local out
    out=$("$@")
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        if [ ${#line} -gt 400 ]; then printf '%s…\n' "${line:0:400}"; else printf '%s\n' "$line"; fi
    done <<<"$out"
    last=$out
}
same_as_pristine() {
    diff -r --exclude=backups "$sandbox/pristine" . >/dev/null
}

step "The sandbox: a copy of the helpdesk project in $sandbox/helpdesk"
find . -type f | sort | sed 's|^\./|  |'

step "1. Back up the config set (settings, nginx.conf, compose files, deploy files)"
show rb-snapshot
snapshot=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$last" | head -n1)
show ls -l backups/
printf '%s$ (cd backups/%s && sha256sum -c --quiet .rb/SHA256SUMS) && echo all files verified%s\n' "$bold" "$snapshot" "$plain"
(cd "backups/$snapshot" && sha256sum -c --quiet .rb/SHA256SUMS) && echo "all files verified"

step "2. A bad deploy breaks things"
echo 'DEBUG = True  # hotfix' >> core/config/settings/base.py
echo 'EXTRA_APPS = ["debug_toolbar"]' > core/config/settings/local.py
rm docker-compose.staging.yml
sed -i 's/listen 127.0.0.1:8080;/listen 127.0.0.1:8080 ssl;/' nginx/nginx.conf
chmod 666 core/config/settings/production.py
echo "  appended to base.py, added local.py, deleted docker-compose.staging.yml,"
echo "  edited nginx.conf, made production.py world-writable"
same_as_pristine && { echo "demo: the break did not change anything?" >&2; exit 1; }

step "3. What would a restore change? (--dry-run changes nothing)"
show rb-restore --dry-run latest

step "4. Restore it: verified first, the replaced state kept as an undo snapshot"
show rb-restore latest
undo=$(sed -n 's/.*"undo":"\([^"]*\)".*/\1/p' <<<"$last")
if same_as_pristine; then echo "the project is byte for byte as it was at the snapshot"; else
    echo "demo: the restore did not bring the project back" >&2; diff -r --exclude=backups "$sandbox/pristine" . >&2 || true; exit 1; fi

step "5. Undo the rollback (one command, named in the restore document)"
show rb-restore "$undo"
[ -f core/config/settings/local.py ] && [ ! -e docker-compose.staging.yml ] && echo "the broken state is back, exactly"

step "6. And roll back again, the way the old config_rollback.sh was called"
stamp=${snapshot#config_}
printf '%s$ compat/config_rollback.sh %s%s\n' "$bold" "$stamp" "$plain"
RB_BIN_DIR=$bin "$repo/compat/config_rollback.sh" "$stamp" 2>/dev/null
same_as_pristine && echo "the project is as it was at the snapshot"

step "7. The audit log (backups/rollback.log)"
sed 's/^/  /' backups/rollback.log

step "Done: snapshot, break, dry run, restore, undo and the old script's way all did what they said."
