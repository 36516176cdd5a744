#!/usr/bin/env python3
"""make bench: rb-snapshot and rb-restore against cp -a and rsync, on the same trees, in one run.

Trees (deterministic: the same bytes on every machine):
  small   the seed's dozen files (tests/fixtures/helpdesk)
  medium  5,000 files in 100 folders, about 100 MB
  large   50,000 files in 1,000 folders, about 1 GB

For each tree, with a warm page cache, every command runs --runs times (fresh destination each
time) and the median is printed with its ratio to `cp -a`:

  cp -a                       copy the tree
  cp -a; sync                 copy the tree and wait until it is on disk (rb syncs; cp does not)
  rsync -a                    copy the tree
  rsync -a --link-dest        a second copy of the unchanged tree, linked to the first
  rb-snapshot (first)         a first snapshot: copy + SHA-256 of every byte + manifest
  rb-snapshot (unchanged)     a second snapshot of the unchanged tree (hard links, hashes reused)
  rb-restore (no change)      a restore when nothing differs (every file hashed and compared)
  rb-restore --quick          the same with rsync's quick check (size and mtime) only
  rb-snapshot --version       start-up

plus the disk added by the unchanged snapshot and the peak memory (max RSS) of rb's runs.

`memory` measures how peak memory grows with the number of files: trees of 10,000 and 100,000
small files (64 bytes each, 100 per folder), the peak RSS (getrusage of the child) of a first
snapshot, an unchanged snapshot and a full restore (the live tree removed, everything written
back), and the 100,000 figure's ratio to the 10,000 one. The target: under 64 MiB at 100,000
files, and at most 1.25x the figure at 10,000.
Timings are measurements, not tests: nothing here fails on a number.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = {"small": None, "medium": (5_000, 100, 100 * 2**20), "large": (50_000, 1_000, 2**30), "memory": None}
MEMORY_COUNTS = (10_000, 100_000)
MEMORY_TARGET_MIB, MEMORY_TARGET_RATIO = 64, 1.25


def generate(name, root):
    """Writes tree `name` under root/data (deterministic)."""
    data = os.path.join(root, "data")
    if name == "small":
        shutil.copytree(os.path.join(REPO, "tests/fixtures/helpdesk"), data, symlinks=True)
        return
    files, folders, total = SIZES[name]
    rng = random.Random(f"rb-bench-{name}")
    mean = total // files
    for d in range(folders):
        os.makedirs(os.path.join(data, f"d{d:04}"))
    for i in range(files):
        # Sizes spread from tiny to ~4x the mean, like a real project (configs, assets, blobs).
        size = int(rng.expovariate(1 / mean)) if i % 10 else rng.randint(0, 256)
        with open(os.path.join(data, f"d{i % folders:04}", f"f{i:06}.bin"), "wb") as f:
            f.write(rng.randbytes(size))


def du(path):
    """Bytes on disk under path, each hard-linked inode once (du -s)."""
    out = subprocess.run(["du", "-s", "-B1", path], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


def run(argv, env=None):
    """Runs argv, returns (seconds, the child's own peak RSS in KiB)."""
    t0 = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} exited {child.returncode}")
    return elapsed, usage.ru_maxrss


def bench(name, runs, bins, work):
    """Generates tree `name` and measures every command on it, round-robin: each round runs
    every command once, so that what the machine is doing (writeback, caches) falls on all of
    them alike. Every output is removed right after its run."""
    root = os.path.join(work, name)
    os.makedirs(root)
    generate(name, root)
    tree = os.path.join(root, "data")
    files = sum(len(f) for _, _, f in os.walk(tree))
    size = du(tree)
    for d, _, fs in os.walk(tree):  # warm the page cache
        for f in fs:
            with open(os.path.join(d, f), "rb") as fh:
                while fh.read(1 << 20):
                    pass
    env = dict(os.environ, RB_ROOT=root)
    rb_snapshot, rb_restore = os.path.join(bins, "rb-snapshot"), os.path.join(bins, "rb-restore")
    out = os.path.join(work, "out")
    base_copy = os.path.join(work, "rsync-base")
    subprocess.run(["rsync", "-a", tree + "/", base_copy + "/"], check=True)
    store = os.path.join(work, "store")  # holds one snapshot, for the unchanged and restore rows
    snap = lambda st: [rb_snapshot, "--store", st, "--name", "bench", "data"]  # noqa: E731
    subprocess.run(snap(store), check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_id = sorted(e for e in os.listdir(store) if e.startswith("bench_"))[0]
    before = du(store)

    def drop_new_snapshots():
        for e in os.listdir(store):
            if e.startswith("bench_") and e != first_id:
                shutil.rmtree(os.path.join(store, e))

    # label, argv, env, what to remove after the run
    commands = [
        ("cp -a", ["cp", "-a", tree, out], None, out),
        ("cp -a; sync", ["sh", "-c", 'cp -a "$0" "$1" && sync', tree, out], None, out),
        ("rsync -a", ["rsync", "-a", tree + "/", out + "/"], None, out),
        ("rsync -a --link-dest", ["rsync", "-a", f"--link-dest={base_copy}", tree + "/", out + "/"], None, out),
        ("rb-snapshot (first)", snap(out), env, out),
        ("rb-snapshot (unchanged)", snap(store), env, None),
        ("rb-restore (no change)", [rb_restore, "--store", store, first_id], env, None),
        ("rb-restore --quick (no change)", [rb_restore, "--store", store, "--quick", first_id], env, None),
    ]
    times = {label: [] for label, *_ in commands}
    peaks = {label: 0 for label, *_ in commands}
    added = None
    for _ in range(runs):
        for label, argv, cmd_env, output in commands:
            os.sync()  # nothing left to write back from the command before
            seconds, rss = run(argv, cmd_env)
            times[label].append(seconds)
            peaks[label] = max(peaks[label], rss)
            if label == "rb-snapshot (unchanged)":
                added = du(store) - before
                drop_new_snapshots()
            if output:
                shutil.rmtree(output, ignore_errors=True)
    results = [(label, statistics.median(times[label]), peaks[label]) for label, *_ in commands]
    version = []
    for _ in range(max(runs, 20)):
        version.append(run([rb_snapshot, "--version"])[0])
    return files, size, results, ("rb-snapshot --version", statistics.median(version)), added


def small_files(data, count):
    """Writes `count` files of 64 deterministic bytes, 100 per folder, under data."""
    rng = random.Random(f"rb-bench-memory-{count}")
    folders = max(1, count // 100)
    for d in range(folders):
        os.makedirs(os.path.join(data, f"d{d:05}"))
    for i in range(count):
        with open(os.path.join(data, f"d{i % folders:05}", f"f{i:07}.bin"), "wb") as f:
            f.write(rng.randbytes(64))


def memory(bins, work):
    """Peak RSS (KiB) of a first snapshot, an unchanged snapshot and a full restore, by file count."""
    rb_snapshot, rb_restore = os.path.join(bins, "rb-snapshot"), os.path.join(bins, "rb-restore")
    peaks = {}
    for count in MEMORY_COUNTS:
        root = os.path.join(work, f"mem{count}")
        data, store = os.path.join(root, "data"), os.path.join(root, "store")
        small_files(data, count)
        env = dict(os.environ, RB_ROOT=root)
        snap = [rb_snapshot, "--store", store, "--name", "bench", "data"]
        first = run(snap, env)[1]
        unchanged = run(snap, env)[1]
        first_id = sorted(e for e in os.listdir(store) if e.startswith("bench_"))[0]
        shutil.rmtree(data)
        restore = run([rb_restore, "--store", store, first_id], env)[1]
        peaks[count] = {"rb-snapshot (first)": first, "rb-snapshot (unchanged)": unchanged, "rb-restore (full)": restore}
        shutil.rmtree(root)
    return peaks


def print_memory(peaks):
    low, high = MEMORY_COUNTS
    print(f"\nmemory: peak RSS by file count (target: under {MEMORY_TARGET_MIB} MiB at {high:,} files, "
          f"at most {MEMORY_TARGET_RATIO}x the figure at {low:,})")
    print(f"  {'command':28} {f'{low:,} files':>14} {f'{high:,} files':>14} {'ratio':>7}  target")
    for label in peaks[low]:
        a, b = peaks[low][label] / 1024, peaks[high][label] / 1024
        ok = b < MEMORY_TARGET_MIB and b <= MEMORY_TARGET_RATIO * a
        print(f"  {label:28} {a:10.1f} MiB {b:10.1f} MiB {b / a:6.2f}x  {'met' if ok else 'NOT met'}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sizes", nargs="*", default=["small", "medium", "large"], choices=list(SIZES))
    p.add_argument("--runs", type=int, default=5, help="runs per command (the median is printed)")
    p.add_argument("--bins", default=os.path.join(REPO, "target/release"), help="folder of the rb binaries")
    p.add_argument("--work", default=None, help="scratch folder (default: a temporary one; needs ~2.5x the tree)")
    args = p.parse_args()
    for tool in ["cp", "rsync", "du"] if set(args.sizes) - {"memory"} else []:
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is missing (make bench installs rsync)")
    print(f"rb bench: {os.cpu_count()} cores, {args.runs} runs per command (median), warm cache, binaries in {args.bins}")
    for name in args.sizes:
        if name == "memory":
            with tempfile.TemporaryDirectory(prefix="rb-bench.", dir=args.work) as work:
                print_memory(memory(args.bins, work))
            continue
        with tempfile.TemporaryDirectory(prefix="rb-bench.", dir=args.work) as work:
            files, size, results, version, added = bench(name, args.runs, args.bins, work)
        base = results[0][1]
        print(f"\n{name}: {files} files, {size / 2**20:.1f} MiB on disk")
        print(f"  {'command':28} {'median':>10} {'vs cp -a':>9} {'peak RSS':>10}")
        for label, seconds, peak in results:
            rss = f"{peak / 1024:.1f} MiB" if peak and label.startswith("rb-") else ""
            print(f"  {label:28} {seconds * 1000:8.1f}ms {seconds / base:8.2f}x {rss:>10}")
        print(f"  {version[0]:28} {version[1] * 1000:8.1f}ms")
        print(f"  unchanged snapshot added {added / 2**10:.0f} KiB on disk ({100 * added / size:.2f}% of the tree)")


if __name__ == "__main__":
    main()
