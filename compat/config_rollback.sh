#!/bin/bash
# config_rollback.sh — the seed's configuration rollback, same argument and messages, done by
# rb-restore: the files are verified first, what they replace is kept in backups/undo_<time>/,
# a folder is restored exactly, and "completed" is printed only when it is true.
#
#   config_rollback.sh TIMESTAMP [--dry-run]   restores backups/config_TIMESTAMP (rb's or the seed's own)
#
# Exit: 1 when the backup is not there or the arguments are wrong (as the seed did);
# otherwise rb-restore's code (0 done, 1 failed with nothing changed, 2 bad input, 3 partly
# changed, 4 locked). rb-restore's document goes to stderr, so stdout stays the seed's messages.
set -u

here=$(dirname "$0")
rb_restore=rb-restore
[ -x "$here/rb-restore" ] && rb_restore="$here/rb-restore"

dry_run=()
stamp=
for arg in "$@"; do
    case $arg in
        --dry-run) dry_run=(--dry-run) ;;
        -*|*/*) echo "Usage: $0 <timestamp> [--dry-run]"; exit 1 ;;
        *) if [ -n "$stamp" ]; then echo "Usage: $0 <timestamp> [--dry-run]"; exit 1; fi; stamp=$arg ;;
    esac
done

store=${RB_STORE:-${RB_ROOT:-.}/backups}
BACKUP_DIR="$store/config_$stamp"
BACKUP_DIR=${BACKUP_DIR#./}
if [ ! -d "$BACKUP_DIR" ]; then
    echo "Backup directory $BACKUP_DIR not found"
    exit 1
fi

if [ ${#dry_run[@]} -gt 0 ]; then
    echo "Dry run: what rolling back configuration from $BACKUP_DIR would change..."
else
    echo "Rolling back configuration from $BACKUP_DIR..."
fi

"$rb_restore" "${dry_run[@]}" -- "config_$stamp" 1>&2
code=$?
if [ "$code" -ne 0 ]; then
    echo "Configuration rollback FAILED (rb-restore exit $code)" >&2
    exit "$code"
fi

if [ ${#dry_run[@]} -gt 0 ]; then
    echo "Dry run completed: nothing was changed"
else
    echo "Configuration rollback completed"
fi
