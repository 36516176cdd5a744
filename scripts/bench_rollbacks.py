#!/usr/bin/env python3
"""rb-migrate against plain `manage.py migrate APP TARGET` on the helpdesk fixture (SQLite).

Round-robin in one run: each round times the bare command and rb's one-step rollback (without
and with the database backup), putting the migration back untimed after each; prints the
medians and the ratios to the bare command. Needs .venv (make test) and release binaries.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--bins", default=os.path.join(REPO, "target/release"))
    args = p.parse_args()
    python = os.path.join(REPO, ".venv/bin/python")
    if not os.path.exists(python):
        sys.exit("bench: .venv is missing (make test creates it)")
    rb = os.path.join(args.bins, "rb-migrate")
    with tempfile.TemporaryDirectory(prefix="rb-bench-migrate.") as work:
        root = os.path.join(work, "helpdesk")
        shutil.copytree(os.path.join(REPO, "tests/fixtures/helpdesk"), root)
        with open(os.path.join(root, "rollback.toml"), "w") as f:
            f.write(f'[django]\npython = "{python}"\n')
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")

        def run(argv):
            start = time.perf_counter()
            subprocess.run(argv, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return time.perf_counter() - start

        forward = [python, "manage.py", "migrate", "-v", "0"]
        run(forward)
        commands = [
            ("manage.py migrate tickets 0003", [python, "manage.py", "migrate", "tickets", "0003", "-v", "0"]),
            ("rb-migrate rollback --no-backup", [rb, "rollback", "tickets", "0003", "--no-backup"]),
            ("rb-migrate rollback (backup)", [rb, "rollback", "tickets", "0003"]),
        ]
        times = {label: [] for label, _ in commands}
        for _ in range(args.runs):
            for label, argv in commands:
                times[label].append(run(argv))
                run(forward)
        base = statistics.median(times[commands[0][0]])
        print(f"\nrollbacks: one step back on the helpdesk fixture (SQLite), {args.runs} runs, round-robin")
        print(f"  {'command':34} {'median':>10} {'vs bare':>8}")
        for label, _ in commands:
            m = statistics.median(times[label])
            print(f"  {label:34} {m * 1000:8.1f}ms {m / base:7.2f}x")


if __name__ == "__main__":
    main()
