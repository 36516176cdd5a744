#!/bin/bash
# secrets_rollback.sh — the seed's secrets rollback, same arguments and messages, done by
# rb-secret. The seed's interface puts the value on this script's command line; it goes no
# further: it reaches `rb-secret set` on stdin (printf is a shell builtin, no new process), and
# from there the AWS CLI in a 0600 file or Vault in a request body, never another argument.
#
#   secrets_rollback.sh BACKEND NAME VALUE    BACKEND: aws, vault or env
#   secrets_rollback.sh --help
#
# Better, with no value at all (Secrets Manager and Vault keep every version):
#   rb-secret --backend aws rollback NAME       make the previous version current again
#
# Exit: 1 for missing arguments or an unknown backend (as the seed did); otherwise rb-secret's
# code (0 done, 1 failed with nothing changed, 2 bad input, 3 partly changed, 4 locked).
# rb-secret's document goes to stderr, so stdout stays the seed's messages.
set -u

here=$(dirname "$0")
rb_secret=rb-secret
[ -x "$here/rb-secret" ] && rb_secret="$here/rb-secret"

if [ "${1-}" = "--help" ] || [ "${1-}" = "-h" ]; then
    echo "Usage: $0 <backend> <secret_name> <previous_value>"
    echo "  backend: aws, vault or env; the value is handed to \`rb-secret set\` on stdin."
    echo "  No value is needed to go back one version: rb-secret --backend aws rollback <secret_name>"
    exit 0
fi

SECRET_BACKEND=${1-}
SECRET_NAME=${2-}
PREVIOUS_VALUE=${3-}

if [ -z "$SECRET_BACKEND" ] || [ -z "$SECRET_NAME" ] || [ -z "$PREVIOUS_VALUE" ] || [ $# -gt 3 ]; then
    echo "Usage: $0 <backend> <secret_name> <previous_value>"
    exit 1
fi

case $SECRET_BACKEND in
    aws|vault|env) ;;
    *)
        echo "Unknown backend: $SECRET_BACKEND"
        exit 1
        ;;
esac

echo "Rolling back secret $SECRET_NAME to previous value..."

# --from-file /dev/stdin: the value exactly as given (a trailing newline kept).
printf '%s' "$PREVIOUS_VALUE" | "$rb_secret" --backend "$SECRET_BACKEND" set --from-file /dev/stdin -- "$SECRET_NAME" 1>&2
code=${PIPESTATUS[1]}
if [ "$code" -ne 0 ]; then
    echo "Secrets rollback FAILED (rb-secret exit $code)" >&2
    exit "$code"
fi

echo "Secrets rollback completed"
