#!/bin/bash
# emergency_rollback.sh — the seed's emergency rollback, same messages, done by rb-emergency:
# the snapshot is verified before anything stops, every stop and start is checked, the files
# go back through the restore engine (exact, undoable), the health check is polled (no blind
# `sleep 30`), and "COMPLETED" is printed only when the stack is back and healthy. Like the
# seed it asks nothing (`--yes`); its exit code is the real outcome's.
#
#   emergency_rollback.sh [--from ID] [--dry-run]
#
# Exit: 1 for bad arguments (as the seed's shims do) or a rollback that failed and was put back;
# otherwise rb-emergency's code (0 done and healthy, 3 partly done: the report says what runs
# and what is on disk, 4 locked). rb-emergency's report and progress go to stderr, so stdout
# keeps the seed's messages.
set -u

here=$(dirname "$0")
rb_emergency=rb-emergency
[ -x "$here/rb-emergency" ] && rb_emergency="$here/rb-emergency"

dry_run=
for arg in "$@"; do [ "$arg" = "--dry-run" ] && dry_run=1; done

echo "🚨 EMERGENCY ROLLBACK INITIATED 🚨"
if [ -z "$dry_run" ]; then
    echo "Stopping all services..."
    echo "Restoring from latest backup..."
    echo "Restarting services..."
fi

report=$("$rb_emergency" run --yes "$@")
code=$?
[ -n "$report" ] && printf '%s\n' "$report" >&2

if [ -n "$dry_run" ]; then
    echo "Dry run: the plan is on stderr; nothing was stopped or changed"
    [ "$code" -eq 2 ] && exit 1
    exit "$code"
fi
if [ -z "$report" ]; then
    # Refused before anything was stopped (no or a damaged snapshot, bad arguments, locked).
    echo "Nothing was stopped or changed: see the error above"
    [ "$code" -eq 2 ] && exit 1
    exit "$code"
fi
echo "Verifying system health..."
if [ "$code" -ne 0 ]; then
    echo "❌ System unhealthy"
    echo "🚨 EMERGENCY ROLLBACK FAILED (rb-emergency exit $code) 🚨"
    exit "$code"
fi
echo "✅ System healthy"
echo "🚨 EMERGENCY ROLLBACK COMPLETED 🚨"
