#!/bin/bash
# feature_flags_rollback.sh — the seed's feature flag rollback, same arguments and messages,
# done by rb-flag: the name and value are data sent to a fixed program (never pasted into
# Python source, so a quote cannot break it and a crafted value cannot run), an unknown flag
# is an error instead of a silent no-op, and "completed" is printed only when it is true.
#
#   feature_flags_rollback.sh NAME VALUE
#
# Exit: 1 for missing arguments (as the seed did); otherwise rb-flag's code (0 done, 1 failed
# with nothing changed, e.g. an unknown flag, 2 bad input, 3 partly changed, 4 locked).
# rb-flag's document — the value the flag had, which `rb-flag restore` puts back — goes to
# stderr, so stdout stays the seed's messages.
set -u

here=$(dirname "$0")
rb_flag=rb-flag
[ -x "$here/rb-flag" ] && rb_flag="$here/rb-flag"

FEATURE_NAME=${1-}
FEATURE_VALUE=${2-}

if [ -z "$FEATURE_NAME" ] || [ -z "$FEATURE_VALUE" ] || [ $# -gt 2 ]; then
    echo "Usage: $0 <feature_name> <feature_value>"
    exit 1
fi

echo "Rolling back feature flag $FEATURE_NAME to $FEATURE_VALUE..."

"$rb_flag" set -- "$FEATURE_NAME" "$FEATURE_VALUE" 1>&2
code=$?
if [ "$code" -ne 0 ]; then
    echo "Feature flags rollback FAILED (rb-flag exit $code)" >&2
    exit "$code"
fi

echo "Feature flags rollback completed"
