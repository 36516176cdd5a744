#!/bin/bash
# env_rollback.sh — the seed's environment rollback, same argument and messages, done by
# rb-envfile. It must be SOURCED, because only the shell itself can change its environment
# (the seed ran `source` inside a child script, which changed nothing):
#
#   . compat/env_rollback.sh TIMESTAMP     sets the variables of backups/env_TIMESTAMP.env
#                                          (rb's or the seed's own `env >` ones) in this shell
#
# The file is read as data by rb-envfile, never run as shell code; a listed variable that was
# not set at capture time is unset. Returns 1 when the backup is not there (as the seed did),
# rb-envfile's code when it cannot be read (2 for a file that is not an environment backup),
# with nothing changed. Run as a program, it explains this and exits 1.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "env_rollback.sh changes the environment of the shell that runs it, so it must be sourced:" >&2
    echo "  . $0 <timestamp>" >&2
    echo "or, for the same effect:  eval \"\$(rb-envfile export env_<timestamp>)\"" >&2
    echo "or, to run one command:   rb-envfile exec env_<timestamp> -- COMMAND ARGS..." >&2
    exit 1
fi

_rb_env_rollback() {
    unset -f _rb_env_rollback # leaves nothing behind in the shell (bash finishes the running body)
    local rb_envfile=rb-envfile here text
    here=$(dirname "${BASH_SOURCE[0]}")
    [ -x "$here/rb-envfile" ] && rb_envfile="$here/rb-envfile"
    local store=${RB_STORE:-${RB_ROOT:-.}/backups}
    local BACKUP_FILE="$store/env_${1-}.env"
    BACKUP_FILE=${BACKUP_FILE#./}
    if [ ! -f "$BACKUP_FILE" ]; then
        echo "Backup file $BACKUP_FILE not found"
        return 1
    fi
    echo "Rolling back environment from $BACKUP_FILE..."
    text=$("$rb_envfile" export -- "$BACKUP_FILE")
    local code=$?
    if [ "$code" -ne 0 ]; then
        echo "Environment rollback FAILED (rb-envfile exit $code): nothing was changed" >&2
        return "$code"
    fi
    eval "$text"
    echo "Environment rollback completed"
}

# The status of this last line is what sourcing the file returns.
_rb_env_rollback "$@"
