#!/bin/bash
# deployment_rollback.sh — the seed's deployment rollback, same arguments and messages, done by
# rb-deploy: the backup is checked before anything stops (`compose config`, the task definition
# exists, the Render deploy was live), the rollback is waited for and health-checked, and
# "completed" is printed only when it is stable and healthy.
#
#   deployment_rollback.sh docker backups/docker-compose_TIMESTAMP.yml   (or a compose snapshot id)
#   deployment_rollback.sh aws    helpdesk-task:41                       (a revision; helpdesk-task:previous works)
#   deployment_rollback.sh render dep-…                                  (a Render deploy id)
#
# Exit: 1 for missing arguments or an unknown type (as the seed did); otherwise rb-deploy's code
# (0 done and healthy, 1 failed with nothing changed or put back, 2 bad input, 3 changed but not
# stable or healthy, 4 locked). The issue asked for exit 1 when a rollback does not become
# healthy; where ECS or Render were changed and did not settle, DESIGN's 3 ("partly changed, the
# error says how to undo") is the truth, and the shim passes it through. rb-deploy's document goes to stderr; stdout keeps the seed's messages.
set -u

here=$(dirname "$0")
rb_deploy=rb-deploy
[ -x "$here/rb-deploy" ] && rb_deploy="$here/rb-deploy"

DEPLOYMENT_TYPE=${1-}
BACKUP_FILE=${2-}

if [ -z "$DEPLOYMENT_TYPE" ] || [ -z "$BACKUP_FILE" ] || [ $# -gt 2 ]; then
    echo "Usage: $0 <deployment_type> <backup_file>"
    exit 1
fi

case $DEPLOYMENT_TYPE in
    docker)
        target=docker
        # backups/docker-compose_TS.yml (the seed's), or a file inside a snapshot folder
        # (backups/compose_TS/docker-compose.yml): the snapshot's id.
        case $(basename "$BACKUP_FILE") in
            docker-compose.yml) to=$(basename "$(dirname "$BACKUP_FILE")") ;;
            *) to=$(basename "$BACKUP_FILE"); to=${to%.yml} ;;
        esac
        ;;
    aws)
        target=ecs
        to=$BACKUP_FILE
        case $to in *:previous|previous) to=previous ;; esac
        ;;
    render)
        target=render
        to=$BACKUP_FILE
        ;;
    *)
        echo "Unknown deployment type: $DEPLOYMENT_TYPE"
        exit 1
        ;;
esac

echo "Rolling back $DEPLOYMENT_TYPE deployment from $BACKUP_FILE..."

"$rb_deploy" rollback --target "$target" --to "$to" 1>&2
code=$?
if [ "$code" -ne 0 ]; then
    echo "Deployment rollback FAILED (rb-deploy exit $code)" >&2
    exit "$code"
fi

echo "Deployment rollback completed"
