#!/usr/bin/python3
"""bench/bitswap_providers.py: one file fetched with Bitswap from 1 and from 4
providers, every link limited to the same rate.

    sudo /usr/bin/python3 bench/bitswap_providers.py [--mib 256] [--rate 50] [--runs 3]
                                                     [--providers 1,4] [--json FILE]

Network namespaces made here (names carry this process's pid):
  f      the fetcher: a `warren daemon` (fresh repo each run) and the CLI;
  p0..3  one provider each: a `warren daemon` whose repo holds the file
         (`warren add`, kubo's layout: 256 KiB dag-pb leaves, CIDv0).
Each provider is joined to f by a veth pair of its own (10.78.I.1 on f's
side, 10.78.I.2 on the provider's), and both ends of every pair get the same
token bucket, `tc qdisc ... root tbf rate --rate mbit`, so each link carries
at most that much in each direction. The kernel here has tbf but no netem:
there is no added delay, only the rate.

A run: the fetcher starts with an empty repo, dials N providers (`warren swarm
connect`, TCP with Noise and yamux) and `warren cat CID` is timed from its
start to its last byte, which must equal the file. N = 1 and N = 4 alternate
within each run, so both see the same machine. Reported per N: the median
MB/s (10^6 bytes), its share of what N links can carry (N x --rate), the
bytes each provider sent (its veth's TX counter, framing included) and the
speed-up over one provider (aim: at least 3.5x with four).

DHTs are off (`--routing none`): the providers are found by the dials, and
the want-blocks are what is measured. Needs root (namespaces, tc). Every
process, namespace and link made here is removed at the end, also on errors
and on SIGINT/SIGTERM/SIGHUP.
"""
import argparse
import hashlib
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
WARREN = Path(os.environ.get("WARREN", ROOT / "build" / "warren"))
TAG = f"bsw{os.getpid() % 100000}"
NS_F = f"{TAG}f"
PROCS = []
NAMESPACES = []


def sh(*cmd, check=True):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def nsx(ns, *cmd, check=True):
    return sh("ip", "netns", "exec", ns, *cmd, check=check)


def stop(p):
    if p not in PROCS:
        return
    PROCS.remove(p)
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def cleanup():
    for p in list(PROCS):
        stop(p)
    for ns in NAMESPACES:
        sh("ip", "netns", "del", ns, check=False)
    NAMESPACES.clear()


def on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def provider_ns(i):
    return f"{TAG}p{i}"


def setup(n, rate_mbit):
    """The fetcher's namespace and n providers' namespaces, each provider on a
    rate-limited veth pair of its own."""
    for ns in [NS_F] + [provider_ns(i) for i in range(n)]:
        sh("ip", "netns", "add", ns)
        NAMESPACES.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    # tbf's bucket must hold at least one packet of the largest size the
    # device hands it (GSO super-packets up to 64 KB are cut to fit), and a
    # few ms of the rate so the timer's granularity does not cap it.
    burst = max(64 * 1024, rate_mbit * 1000000 // 8 // 250)
    for i in range(n):
        df, dp = f"{TAG}f{i}", f"{TAG}p{i}"
        sh("ip", "link", "add", df, "netns", NS_F, "type", "veth", "peer", "name", dp, "netns",
           provider_ns(i))
        for ns, dev, ip in ((NS_F, df, f"10.78.{i}.1"), (provider_ns(i), dp, f"10.78.{i}.2")):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate",
               f"{rate_mbit}mbit", "burst", str(burst), "latency", "50ms")


def tx_bytes(ns, dev):
    out = sh("ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev).stdout
    return json.loads(out)[0]["stats64"]["tx"]["bytes"]


def daemon(ns, repo, swarm, log):
    f = open(log, "w")
    p = subprocess.Popen(["ip", "netns", "exec", ns, str(WARREN), "--repo", str(repo), "daemon",
                          "--api", "127.0.0.1:0", "--routing", "none", "--swarm", swarm],
                         stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    f.close()
    PROCS.append(p)
    for _ in range(600):
        m = re.search(r"Swarm listening address=(\S+)", Path(log).read_text())
        if m and (Path(repo) / "api").exists():
            return p, m.group(1)
        if p.poll() is not None:
            raise RuntimeError(f"warren daemon ended: {Path(log).read_text()[-2000:]}")
        time.sleep(0.025)
    raise RuntimeError(f"warren daemon did not start: {Path(log).read_text()[-2000:]}")


def warren(ns, repo, *args, timeout=900):
    return subprocess.run(["ip", "netns", "exec", ns, str(WARREN), "--repo", str(repo),
                           *map(str, args)], capture_output=True, check=True, timeout=timeout)


def fetch(tmp, addrs, n, cid, size, digest):
    """A fresh fetcher dials the first n providers and cats the file: MB/s
    and the bytes each provider's link carried towards the fetcher."""
    repo = tmp / "f"
    shutil.rmtree(repo, ignore_errors=True)
    warren(NS_F, repo, "init")
    p, _ = daemon(NS_F, repo, "/ip4/127.0.0.1/tcp/0", tmp / "f.log")
    try:
        for a in addrs[:n]:
            warren(NS_F, repo, "swarm", "connect", a, timeout=30)
        before = [tx_bytes(provider_ns(i), f"{TAG}p{i}") for i in range(len(addrs))]
        t0 = time.perf_counter()
        r = subprocess.run(["ip", "netns", "exec", NS_F, str(WARREN), "--repo", str(repo), "cat",
                            cid], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=1800)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"cat from {n} provider(s) failed: {r.stderr.decode()[-2000:]}")
        if len(r.stdout) != size or hashlib.sha256(r.stdout).digest() != digest:
            raise RuntimeError(f"cat from {n} provider(s): the bytes differ from the file")
        sent = [tx_bytes(provider_ns(i), f"{TAG}p{i}") - before[i] for i in range(len(addrs))]
        return size / dt / 1e6, sent[:n]
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--rate", type=int, default=50, help="each link's rate, Mbit/s")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--providers", default="1,4")
    ap.add_argument("--json")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/bitswap_providers.py: needs root (network namespaces, tc)")
    counts = [int(x) for x in args.providers.split(",")]
    nprov = max(counts)
    size = args.mib * 1024 * 1024
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    tmp = Path(tempfile.mkdtemp(prefix="bench-bsprov-"))
    try:
        setup(nprov, args.rate)
        data = tmp / "file.bin"
        data.write_bytes(os.urandom(size))
        digest = hashlib.sha256(data.read_bytes()).digest()
        addrs, cid = [], None
        for i in range(nprov):
            repo = tmp / f"p{i}"
            warren(provider_ns(i), repo, "init")
            c = warren(provider_ns(i), repo, "add", "-Q", data).stdout.decode().strip()
            assert cid is None or c == cid, (c, cid)
            cid = c
            _, addr = daemon(provider_ns(i), repo, f"/ip4/10.78.{i}.2/tcp/4001", tmp / f"p{i}.log")
            addrs.append(addr)
        print(f"bitswap_providers: {args.mib} MiB ({cid}), {nprov} provider namespaces, each on "
              f"a veth of its own limited to {args.rate} Mbit/s each way (tc tbf)", file=sys.stderr)
        res = {n: [] for n in counts}
        sent = {n: [] for n in counts}
        for run in range(args.runs):
            for n in counts:
                mbs, tx = fetch(tmp, addrs, n, cid, size, digest)
                res[n].append(mbs)
                sent[n].append(tx)
                print(f"run {run + 1}: {n} provider(s) {mbs:.1f} MB/s, sent "
                      + " ".join(f"{x / 1e6:.0f}" for x in tx) + " MB", file=sys.stderr)
        link = args.rate * 1e6 / 8 / 1e6  # MB/s one link carries
        med = {n: statistics.median(v) for n, v in res.items()}
        base = med.get(1)
        print(f"\n{args.mib} MiB, each link {args.rate} Mbit/s ({link:.1f} MB/s) with tc tbf, "
              f"median of {args.runs}\n")
        print("| providers | MB/s | of N x link rate | MB sent by each provider (last run) "
              "| speed-up over 1 provider |")
        print("| ---: | ---: | ---: | --- | ---: |")
        for n in counts:
            share = " / ".join(f"{x / 1e6:.0f}" for x in sent[n][-1])
            up = f"{med[n] / base:.2f}x" if base else "-"
            print(f"| {n} | {med[n]:.1f} | {med[n] / (n * link) * 100:.0f} % | {share} | {up} |")
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"mib": args.mib, "rate_mbit": args.rate, "runs": res, "sent": sent}, indent=1))
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
