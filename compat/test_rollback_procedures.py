#!/usr/bin/env python3
"""test_rollback_procedures.py — the script the seed's "Testing Rollback Procedures" calls and
never had, done by `rb-emergency drill`: each procedure is rehearsed (snapshot, change, roll
back, verify exact) on a throw-away copy of the project, never the live tree or services.

    test_rollback_procedures.py [--test NAME ...] [--report]

--test takes the seed's names (configuration_rollback, database_migration_rollback,
environment_rollback, secrets_rollback, feature_flags_rollback, deployment_rollback,
nginx_rollback); --report writes rollback_procedures_test_report.json. A test whose backend
cannot be exercised here says NOT CONFIGURED, never PASSED. Exit: rb-emergency's code (0 when
none failed, 1 when one did, 2 for a bad name).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", action="append", default=[], metavar="NAME")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    local = os.path.join(here, "rb-emergency")
    tool = local if os.access(local, os.X_OK) else shutil.which("rb-emergency") or "rb-emergency"
    argv = [tool, "drill"] + [x for name in args.test for x in ("--test", name)]
    if args.report:
        argv.append("--report")
    done = subprocess.run(argv, stdout=subprocess.PIPE, check=False)
    for line in done.stdout.decode().splitlines():
        report = json.loads(line)
        for step in report.get("steps", []):
            status = step["status"].upper().replace("-", " ")
            print(f"{step['name']}: {status} ({step['duration_ms']} ms) {step.get('detail', '')}".rstrip())
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
