#!/bin/bash
# migration_rollback.sh — the seed's migration rollback, same arguments and messages, done by
# rb-migrate: the plan is read first and an irreversible step refuses the rollback before
# anything runs (Django would stop half-way), the database is backed up into backups/ first,
# and "completed" is printed only when the app is where it was asked to be.
#
#   migration_rollback.sh APP [NUMBER]   roll APP back to migration NUMBER (a name or prefix);
#                                        without NUMBER to zero, as the seed did (every
#                                        migration of APP undone: its tables dropped)
#
# Exit: 1 for a missing app name (as the seed did); otherwise rb-migrate's code (0 done, 1
# refused with nothing run, 2 bad input, 3 partly migrated, 4 locked). rb-migrate's document,
# whose `before` `rb-migrate apply` rolls forward to, goes to stderr, so stdout stays the
# seed's messages.
set -u

here=$(dirname "$0")
rb_migrate=rb-migrate
[ -x "$here/rb-migrate" ] && rb_migrate="$here/rb-migrate"

APP_NAME=${1-}
MIGRATION_NUMBER=${2-}

if [ -z "$APP_NAME" ] || [ $# -gt 2 ]; then
    echo "Usage: $0 <app_name> [migration_number]"
    exit 1
fi

echo "Rolling back migrations for $APP_NAME..."

"$rb_migrate" rollback -- "$APP_NAME" "${MIGRATION_NUMBER:-zero}" 1>&2
code=$?
if [ "$code" -ne 0 ]; then
    echo "Migration rollback FAILED (rb-migrate exit $code)" >&2
    exit "$code"
fi

echo "Migration rollback completed"
