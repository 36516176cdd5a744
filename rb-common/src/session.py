# The Python side of an rb session (rb_common::django::Session): one process that serves
# JSON requests on stdin, one a line, until stdin closes.
#
# It dies with rb: PR_SET_PDEATHSIG(SIGKILL) through ctypes (rb forbids unsafe code, so it
# cannot set it in the child itself), and it exits when its parent is no longer the rb that
# started it (rb died before the prctl). Answers and progress go to the real stdout prefixed
# with a per-run token, because settings and management commands print to stdout too; an
# answer is `TOKEN {"ok": …}` or `TOKEN {"error": …}`, progress `TOKEN {"progress": "…"}`.
import ctypes
import json
import os
import sys
import traceback

_TOKEN = os.environ.pop("RB_SESSION_TOKEN", "")
_PARENT = int(os.environ.pop("RB_SESSION_PARENT", "0") or 0)
_OUT = sys.stdout


def _die_with_parent():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except Exception:  # no prctl (not Linux): the getppid check below still holds
        pass
    if _PARENT and os.getppid() != _PARENT:
        os._exit(70)


def send(message):
    _OUT.write(_TOKEN + " " + json.dumps(message) + "\n")
    _OUT.flush()


def progress(text):
    send({"progress": text})


class Refused(Exception):
    """A request that cannot be served: its message goes back to rb as the error."""


def serve(handlers):
    _die_with_parent()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            handler = handlers[request.pop("op")]
            send({"ok": handler(**request)})
        except Refused as e:
            send({"error": str(e)})
        except Exception as e:
            send({"error": f"{type(e).__name__}: {e}".strip(), "traceback": traceback.format_exc()})
