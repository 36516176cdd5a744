#!/bin/bash
# env_rollback.sh — the seed's environment rollback, same argument and messages, done by
# rb-envfile. It must be SOURCED, in bash, because only the shell itself can change its
# environment (the seed ran `source` inside a child script, which changed nothing):
#
#   . compat/env_rollback.sh TIMESTAMP     sets the variables of backups/env_TIMESTAMP.env
#                                          (rb's or the seed's own `env >` ones) in this shell
#
# The file is read as data by rb-envfile, never run as shell code; a listed variable that was
# not set at capture time is unset. Returns 1 when the backup is not there or the argument is
# not a timestamp (as the seed did), rb-envfile's code when the file cannot be read (2 for one
# that is not an environment backup), with nothing changed. Values are never traced, even
# under `set -x`. Run as a program, or sourced by another shell than bash, it explains and fails.

if [ -z "${BASH_VERSION-}" ]; then
    echo "env_rollback.sh needs bash; in this shell: text=\$(rb-envfile export env_<timestamp>) && eval \"\$text\"" >&2
    return 1 2>/dev/null || exit 1
fi
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "env_rollback.sh changes the environment of the shell that runs it, so it must be sourced:" >&2
    echo "  . $0 <timestamp>" >&2
    echo "or, for the same effect:  text=\$(rb-envfile export env_<timestamp>) && eval \"\$text\"" >&2
    echo "or, to run one command:   rb-envfile exec env_<timestamp> -- COMMAND ARGS..." >&2
    exit 1
fi

# No tracing from here on: the text below holds the values.
case $- in *x*) set +x; __rb_env_x=1 ;; *) __rb_env_x= ;; esac

# Finds the backup and reads it (into __rb_env_text), with the seed's messages. Its locals
# cannot shadow a restored variable: the text is evaluated outside it.
__rb_env_prepare() {
    unset -f __rb_env_prepare
    local rb_envfile=rb-envfile here store file
    if [ $# -ne 1 ] || [[ ! $1 =~ ^[0-9]{8}_[0-9]{6}(-[0-9]+)?$ ]]; then
        echo "Usage: . ${BASH_SOURCE[0]} <timestamp>   (e.g. 20251013_120000, as in backups/env_20251013_120000.env)"
        return 1
    fi
    here=$(dirname "${BASH_SOURCE[0]}")
    [ -x "$here/rb-envfile" ] && rb_envfile="$here/rb-envfile"
    store=${RB_STORE:-${RB_ROOT:-.}/backups}
    file="$store/env_$1.env"
    file=${file#./}
    if [ ! -f "$file" ]; then
        echo "Backup file $file not found"
        return 1
    fi
    echo "Rolling back environment from $file..."
    __rb_env_text=$("$rb_envfile" export -- "$file") || {
        set -- $?
        echo "Environment rollback FAILED (rb-envfile exit $1): nothing was changed" >&2
        return "$1"
    }
}

if __rb_env_prepare "$@"; then
    eval "$__rb_env_text"
    unset __rb_env_text
    echo "Environment rollback completed"
    [ -z "$__rb_env_x" ] || set -x
    unset __rb_env_x
else
    set -- $?
    unset __rb_env_text
    [ -z "$__rb_env_x" ] || set -x
    unset __rb_env_x
    return "$1"
fi
