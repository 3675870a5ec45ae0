#!/usr/bin/python3
"""bench/rpc_add.py: `add` of one file through kubo's RPC API against `warren add`
on the repo directly, side by side in one run:
  - direct: `warren --offline add` into a fresh repo,
  - cli:    `warren add` with a `warren daemon` running on a fresh repo (the CLI
            uploads a multipart body, the daemon imports it),
  - curl:   curl's multipart upload to the daemon's /api/v0/add.
Every run must give the same root CID. Speeds per wall-clock second and per
CPU-second (the daemon's threads plus the client's): on a busy machine the
second is the fair comparison.

    bench/rpc_add.py [--size-mb N] [--runs N]
"""
import argparse
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
WARREN = str(ROOT / "build" / "warren")
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def child_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def fresh_repo(work):
    repo = work / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    subprocess.run([WARREN, "--repo", str(repo), "init"], check=True, capture_output=True)
    return repo


def run_direct(work, f):
    repo = fresh_repo(work)
    c0, t0 = child_cpu(), time.monotonic()
    out = subprocess.run([WARREN, "--repo", str(repo), "--offline", "add", "-Q", str(f)],
                         check=True, capture_output=True, text=True).stdout.strip()
    return time.monotonic() - t0, child_cpu() - c0, out


def run_daemon(work, f, client):
    repo = fresh_repo(work)
    # The libp2p listener on a port the kernel picks: kubo's 4001 may be taken.
    d = subprocess.Popen([WARREN, "--repo", str(repo), "daemon", "--api", "127.0.0.1:0",
                          "--swarm", "/ip4/127.0.0.1/tcp/0"],
                         stdout=subprocess.DEVNULL, stderr=open(work / "daemon.log", "w"))
    try:
        for _ in range(400):
            if (repo / "api").exists() and (repo / "api").read_text():
                break
            if d.poll() is not None:
                sys.exit(f"rpc_add.py: the daemon did not start: {(work / 'daemon.log').read_text()}")
            time.sleep(0.01)
        port = (repo / "api").read_text().rsplit("/", 1)[1]
        d0, c0, t0 = proc_cpu(d.pid), child_cpu(), time.monotonic()
        if client == "cli":
            out = subprocess.run([WARREN, "--repo", str(repo), "add", "-Q", str(f)], check=True,
                                 capture_output=True, text=True).stdout.strip()
        else:
            body = subprocess.run(["curl", "-sf", "-X", "POST", "-F", f"file=@{f}",
                                   f"http://127.0.0.1:{port}/api/v0/add"], check=True,
                                  capture_output=True, text=True).stdout
            out = body.strip().splitlines()[-1].split('"Hash":"')[1].split('"')[0]
        wall = time.monotonic() - t0
        cpu = proc_cpu(d.pid) - d0 + child_cpu() - c0
        return wall, cpu, out
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="warren-bench-rpc.") as tmp:
        work = pathlib.Path(tmp)
        f = work / "file.bin"
        with open(f, "wb") as out:
            out.write(os.urandom(a.size_mb * 1000 * 1000))
        mb = a.size_mb
        print(f"add of a {mb} MB random file into a fresh repo, best of {a.runs} "
              f"(MB/s by wall clock, MB per CPU-second)")
        cids = set()
        for name, fn in (("warren add (direct)", lambda: run_direct(work, f)),
                         ("warren add via daemon", lambda: run_daemon(work, f, "cli")),
                         ("curl -F via daemon", lambda: run_daemon(work, f, "curl"))):
            results = [fn() for _ in range(a.runs)]
            cids |= {r[2] for r in results}
            wall = min(r[0] for r in results)
            cpu = min(r[1] for r in results)
            print(f"  {name:24s} {mb / wall:8.1f} MB/s   {mb / cpu:8.1f} MB/CPU-s   "
                  f"(best {wall:.2f} s wall, {cpu:.2f} s CPU)")
        if len(cids) != 1:
            sys.exit(f"rpc_add.py: the runs gave different CIDs: {sorted(cids)}")
        print(f"  root {cids.pop()} in every run")


if __name__ == "__main__":
    main()
