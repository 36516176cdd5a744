#!/bin/bash
# emergency_rollback.sh — the seed's emergency rollback, same messages, done by rb-emergency:
# the snapshot is verified before anything stops, every stop and start is checked, the files
# go back through the restore engine (exact, undoable), the health check is polled (no blind
# `sleep 30`), and "COMPLETED" is printed only when the stack is back and healthy. Like the
# seed it asks nothing (`--yes`); its exit code is the real outcome's.
#
#   emergency_rollback.sh [--from ID] [--dry-run]
#
# Exit: rb-emergency's code (0 done and healthy, 1 failed and put back, 2 bad input, 3 partly
# done: the report says what runs and what is on disk, 4 locked). rb-emergency's report goes to
# stderr with its progress, so stdout keeps the seed's messages.
set -u

here=$(dirname "$0")
rb_emergency=rb-emergency
[ -x "$here/rb-emergency" ] && rb_emergency="$here/rb-emergency"

echo "🚨 EMERGENCY ROLLBACK INITIATED 🚨"
echo "Stopping all services, restoring from latest backup, restarting services..."

"$rb_emergency" run --yes "$@" 1>&2
code=$?

case " $* " in
    *" --dry-run "*)
        echo "Dry run: the plan is on stderr; nothing was stopped or changed"
        exit "$code"
        ;;
esac
echo "Verifying system health..."
if [ "$code" -ne 0 ]; then
    echo "❌ System unhealthy"
    echo "🚨 EMERGENCY ROLLBACK FAILED (rb-emergency exit $code) 🚨"
    exit "$code"
fi
echo "✅ System healthy"
echo "🚨 EMERGENCY ROLLBACK COMPLETED 🚨"
