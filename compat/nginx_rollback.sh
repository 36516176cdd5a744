#!/bin/bash
# nginx_rollback.sh — the seed's nginx rollback, same argument and messages, done by rb-nginx:
# the files are restored with what they replace kept in backups/undo_<time>/, then tested with
# nginx -t, reloaded, and the reload confirmed; if any of that fails the files are put back
# (and nginx is never left with a configuration it refused). "completed" is printed only when
# the rollback took effect. An rb snapshot holds every file nginx reads (conf.d/*.conf,
# mime.types, snippets, certificates), so a bad site edit is rolled back too, and a conf.d
# file added since is removed (kept in the undo).
#
#   nginx_rollback.sh TIMESTAMP [--dry-run]   restores backups/nginx_TIMESTAMP (rb's or the seed's own)
#
# Exit: 1 when the backup is not there or the arguments are wrong (as the seed did); otherwise
# rb-nginx's code (0 done, 1 failed and put back, 2 bad input, 3 partly changed, 4 locked).
# rb-nginx's document goes to stderr, so stdout stays the seed's messages.
set -u

here=$(dirname "$0")
rb_nginx=rb-nginx
[ -x "$here/rb-nginx" ] && rb_nginx="$here/rb-nginx"

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
BACKUP_DIR="$store/nginx_$stamp"
BACKUP_DIR=${BACKUP_DIR#./}
if [ ! -d "$BACKUP_DIR" ]; then
    echo "Backup directory $BACKUP_DIR not found"
    exit 1
fi

if [ ${#dry_run[@]} -gt 0 ]; then
    echo "Dry run: what rolling back Nginx configuration from $BACKUP_DIR would change..."
else
    echo "Rolling back Nginx configuration from $BACKUP_DIR..."
fi

"$rb_nginx" restore "${dry_run[@]}" -- "nginx_$stamp" 1>&2
code=$?
if [ "$code" -ne 0 ]; then
    echo "Nginx rollback FAILED (rb-nginx exit $code)" >&2
    exit "$code"
fi

if [ ${#dry_run[@]} -gt 0 ]; then
    echo "Dry run completed: nothing was changed"
else
    echo "Nginx rollback completed"
fi
