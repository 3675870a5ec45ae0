#!/usr/bin/python3
"""bench/hol.py: head-of-line blocking of the tunnel under packet loss, QUIC next to HTTP/2.

    sudo /usr/bin/python3 bench/hol.py [--quick | --full] [--loss 0,1,2,5] [--seconds S]
                                       [--delay MS] [--protocols quic,http2] [--json FILE]

Two network namespaces joined by a veth pair (192.0.2.1/24 edge side,
192.0.2.2/24 connector side, names carrying this process's pid):
  edge side       `warren edge`, and the client (this script's load generator)
                  talking HTTP/1.1 to the edge on loopback;
  connector side  `warren tunnel run` (--ha-connections 1, so every request
                  shares one tunnel connection) and build/bench/http_origin on
                  loopback.
Only the tunnel crosses the veth. On both ends of it, packets arriving get
  - random loss from nftables (`numgen random mod 100 < N drop`), N% each way,
  - then a fixed delay from build/bench/netdelay (an iptables NFQUEUE rule;
    the kernel has no netem and no nft `queue`), --delay ms each way.
(On arrival, not departure: see the comments in setup().)
TCP (http2) uses --tcp-cc (default reno: loss-based like warren's CUBIC QUIC;
a namespace can only choose from net.ipv4.tcp_allowed_congestion_control).
GSO is off everywhere: warren's UDP GSO with --no-gso on the edge and the
connector, and TSO/GSO/GRO on the veth with ethtool. With GSO on, the firewall
sees one super-packet of up to 64 KB where the wire would carry ~45 packets, and
a "1%" drop would remove whole bursts at once.

For each protocol and loss level (a fresh edge and connector per cell): one
bulk download (GET /bytes/2^40) is started, given 1 s to ramp up, and then for
--seconds a small request (GET /bytes/10240, its own TCP connection to the edge)
starts every 50 ms on a fixed schedule, whatever the earlier ones do. Reported:
p50/p95/p99 of the small requests' latency (request sent to last byte; a
request not done after 15 s counts as 15 s and as failed) and the bulk
throughput during the window (MB/s, 10^6 bytes).

http2 is measured when this build's connector takes `--protocol http2`;
otherwise its column says "not available in this build".
Every process, rule and namespace made here is removed at the end, also on
errors and on SIGINT/SIGTERM/SIGHUP.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARREN = os.environ.get("WARREN", os.path.join(ROOT, "build", "warren"))
NETDELAY = os.path.join(ROOT, "build", "bench", "netdelay")
ORIGIN = os.path.join(ROOT, "build", "bench", "http_origin")
HOST = "hol.test"
EDGE_IP, CONN_IP = "192.0.2.1", "192.0.2.2"
SMALL = 10240
TIMEOUT = 15.0

# The load generator, run inside the edge namespace. argv: http port, seconds,
# rate per second, small size, warm-up seconds. Prints one JSON object.
CLIENT = r"""
import json, socket, sys, threading, time
port, secs, rate, small, warm = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
HOST, TIMEOUT = sys.argv[6], float(sys.argv[7])
addr = ("127.0.0.1", port)
lat, fails, lock = [], [], threading.Lock()
bulk = {"bytes_in_window": 0, "total": 0, "error": None}
win = [None, None]
stop = threading.Event()

def bulk_run():
    try:
        s = socket.create_connection(addr, timeout=TIMEOUT)
        s.sendall(b"GET /bytes/1099511627776 HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n\r\n")
        while not stop.is_set():
            b = s.recv(262144)
            if not b:
                bulk["error"] = "closed after %d bytes" % bulk["total"]
                break
            bulk["total"] += len(b)
            t = time.monotonic()
            if win[0] is not None and t >= win[0] and (win[1] is None or t <= win[1]):
                bulk["bytes_in_window"] += len(b)
        s.close()
    except OSError as e:
        bulk["error"] = str(e)

def small_run(i):
    t0 = time.monotonic()
    try:
        s = socket.create_connection(addr, timeout=TIMEOUT)
        s.settimeout(TIMEOUT)
        s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (small, HOST.encode()))
        buf = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
            if time.monotonic() - t0 > TIMEOUT:
                raise OSError("timeout")
        s.close()
        head, _, body = buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200") or len(body) != small:
            raise OSError("bad answer: %r, %d body bytes" % (head[:40], len(body)))
        with lock:
            lat.append(time.monotonic() - t0)
    except OSError as e:
        with lock:
            fails.append(str(e))
            lat.append(TIMEOUT)

bt = threading.Thread(target=bulk_run, daemon=True)
bt.start()
time.sleep(warm)
start = time.monotonic()
win[0] = start
n = int(secs * rate)
threads = []
for i in range(n):
    due = start + i / rate
    d = due - time.monotonic()
    if d > 0:
        time.sleep(d)
    t = threading.Thread(target=small_run, args=(i,), daemon=True)
    t.start()
    threads.append(t)
win[1] = start + secs
time.sleep(max(0.0, win[1] - time.monotonic()))
stop.set()
for t in threads:
    t.join(TIMEOUT + 1)
print(json.dumps({"lat": lat, "fails": fails[:5], "nfails": len(fails), "requests": n,
                  "bulk_bytes": bulk["bytes_in_window"], "bulk_total": bulk["total"],
                  "bulk_error": bulk["error"], "window": secs}))
"""

procs = []
state = {"ns": [], "tmp": None}


def sh(*cmd, check=True):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def nsx(ns, *cmd, check=True):
    return sh("ip", "netns", "exec", ns, *cmd, check=check)


def start(ns, args, log):
    f = open(log, "ab")
    p = subprocess.Popen(["ip", "netns", "exec", ns] + [str(a) for a in args], stdout=f,
                         stderr=subprocess.STDOUT, start_new_session=True)
    f.close()
    p.log = log
    procs.append(p)
    return p


def stop(p):
    if p not in procs:
        return
    procs.remove(p)
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_log(p, pattern, timeout=15):
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(p.log, errors="replace") as f:
            m = rx.search(f.read())
        if m:
            return m
        if p.poll() is not None:
            break
        time.sleep(0.05)
    with open(p.log, errors="replace") as f:
        tail = f.read()[-3000:]
    raise RuntimeError(f"no line matching {pattern!r} in {p.log}:\n{tail}")


def cleanup():
    for p in list(procs):
        stop(p)
    for ns in state["ns"]:
        sh("ip", "netns", "del", ns, check=False)
    state["ns"] = []


def on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def http2_available():
    """True when this build's connector accepts --protocol http2 (the flag is
    checked before --help runs, so an unsupported value exits 2)."""
    r = sh(WARREN, "tunnel", "run", "--protocol", "http2", "--help", check=False)
    return r.returncode == 0


def setup(tag, delay_ms, tcp_cc="cubic"):
    ne, nc = f"{tag}e", f"{tag}c"
    de, dc = f"{tag}x", f"{tag}y"
    for ns in (ne, nc):
        sh("ip", "netns", "add", ns)
        state["ns"].append(ns)
    sh("ip", "link", "add", de, "netns", ne, "type", "veth", "peer", "name", dc, "netns", nc)
    offloads = []
    for ns, dev, ip in ((ne, de, EDGE_IP), (nc, dc, CONN_IP)):
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        r = nsx(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
                "tx-udp-segmentation", "off", check=False)
        offloads.append(r.returncode == 0)
        # Random loss where packets arrive, not where they leave: TCP always
        # builds GSO super-packets (up to 64 KB) and the output hook sees them
        # whole, whatever the device offloads; they are cut into wire-size
        # packets only when handed to the veth (TSO off), so the receiving
        # side sees one packet per segment. Before the delay queue (-300 <
        # mangle's -150).
        nsx(ns, "nft", "add", "table", "inet", "hol")
        nsx(ns, "nft", "add", "chain", "inet", "hol", "in",
            "{ type filter hook prerouting priority -300 ; }")
    state["dev"] = {ne: de, nc: dc}
    for ns in (ne, nc):
        # A loss-based congestion control for TCP (http2) like warren's QUIC
        # (CUBIC), so the columns differ by head-of-line blocking, not by it.
        # A namespace may only pick one in tcp_allowed_congestion_control.
        nsx(ns, "sysctl", "-q", "-w", f"net.ipv4.tcp_congestion_control={tcp_cc}", check=False)
        state["tcp_cc"] = nsx(ns, "sysctl", "-n", "net.ipv4.tcp_congestion_control").stdout.strip()
    if delay_ms > 0:
        # The delay is added where packets come in, not where they leave: a
        # TCP packet held on its way out still counts against its socket's
        # TCP small queues budget (~1 ms of pacing rate), which throttled
        # plain TCP across this link to ~0.3 MB/s; veth orphans the packet
        # when it crosses, so at the receiving side nothing is held back.
        for q, (ns, dev) in enumerate(((ne, de), (nc, dc)), start=1):
            nsx(ns, "iptables", "-t", "mangle", "-A", "PREROUTING", "-i", dev, "-j", "NFQUEUE", "--queue-num", q)
            p = start(ns, [NETDELAY, "--queue", q, "--delay", delay_ms],
                      os.path.join(state["tmp"], f"netdelay{q}.log"))
            wait_log(p, r"netdelay: queue")
    return ne, nc, all(offloads)


def set_loss(pct):
    for ns, dev in state["dev"].items():
        nsx(ns, "nft", "flush", "chain", "inet", "hol", "in")
        if pct > 0:
            nsx(ns, "nft", "add", "rule", "inet", "hol", "in", "iifname", dev, "numgen", "random",
                "mod", "100", "<", str(pct), "counter", "drop")


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def run_cell(ne, nc, proto, loss, port, args, tunnels, cred, origin_port):
    tmp = state["tmp"]
    set_loss(loss)
    certs = os.path.join(tmp, "certs")
    extra = []
    if proto == "http2" and state.get("edge_listen_h2"):
        # This edge takes HTTP/2 connectors only where told: the same port, over TCP.
        extra = ["--listen-http2", f"{EDGE_IP}:{port}"]
    edge = start(ne, [WARREN, "edge", "--listen", f"{EDGE_IP}:{port}", "--http", "127.0.0.1:0",
                      "--tunnels", tunnels, "--self-signed", certs, "--no-gso",
                      "--grace-period", "1s", *extra],
                 os.path.join(tmp, f"edge-{proto}-{loss}.log"))
    conn = None
    try:
        hport = int(wait_log(edge, r"Starting edge.*http=[\d.]+:(\d+)").group(1))
        conn = start(nc, [WARREN, "tunnel", "--edge", f"{EDGE_IP}:{port}", "--edge-ca",
                          os.path.join(certs, "edge.crt"), "--edge-name", "localhost",
                          "--credentials-file", cred, "--url",
                          f"http://127.0.0.1:{origin_port}", "--ha-connections", "1",
                          "--grace-period", "1s", "--protocol", proto, "--no-gso", "run", "hol"],
                     os.path.join(tmp, f"connector-{proto}-{loss}.log"))
        wait_log(conn, r"Registered tunnel connection", timeout=30)
        r = nsx(ne, sys.executable, "-c", CLIENT, hport, args.seconds, 20, SMALL, 1.0, HOST,
                TIMEOUT)
        res = json.loads(r.stdout)
    finally:
        if conn:
            stop(conn)
        stop(edge)
    lat = [x * 1000 for x in res["lat"]]
    return {"p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "p99": pct(lat, 0.99),
            "mbs": res["bulk_bytes"] / res["window"] / 1e6, "requests": res["requests"],
            "nfails": res["nfails"], "fails": res["fails"], "bulk_error": res["bulk_error"]}


def fmt_ratio(a, b):
    if b is None or a is None or b != b or a != a or b == 0:
        return "-"
    return f"{a / b:.2f}"


def print_table(results, losses, protos, h2_note):
    hdr = (f"{'loss':>5} | {'quic p50':>8} {'p95':>7} {'p99':>7} {'MB/s':>6} | "
           f"{'http2 p50':>9} {'p95':>7} {'p99':>7} {'MB/s':>6} | {'p99 q/h2':>8} {'MB/s q/h2':>9}")
    print(hdr)
    print("-" * len(hdr))
    for loss in losses:
        q = results.get(("quic", loss))
        h = results.get(("http2", loss))
        qs = (f"{q['p50']:8.1f} {q['p95']:7.1f} {q['p99']:7.1f} {q['mbs']:6.2f}" if q
              else f"{'-':>31}")
        hs = (f"{h['p50']:9.1f} {h['p95']:7.1f} {h['p99']:7.1f} {h['mbs']:6.2f}" if h
              else f"{'not available':>32}" if h2_note else f"{'-':>32}")
        print(f"{loss:>4}% | {qs} | {hs} | {fmt_ratio(q and q['p99'], h and h['p99']):>8} "
              f"{fmt_ratio(q and q['mbs'], h and h['mbs']):>9}")
    print("latencies in ms (small requests, 10 KiB, 20/s); MB/s = bulk download, 10^6 B/s")
    if h2_note:
        print(h2_note)
    for (proto, loss), r in sorted(results.items()):
        if r["nfails"] or r["bulk_error"]:
            print(f"note: {proto} at {loss}%: {r['nfails']}/{r['requests']} small requests "
                  f"failed {r['fails'][:2]}; bulk: {r['bulk_error'] or 'ok'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="10 s per cell (the default)")
    mode.add_argument("--full", action="store_true", help="30 s per cell")
    ap.add_argument("--seconds", type=float, help="measuring window per cell")
    ap.add_argument("--loss", default="0,1,2,5", help="loss levels in %% (each direction)")
    ap.add_argument("--delay", type=float, default=20, help="added delay each way in ms")
    ap.add_argument("--protocols", default="quic,http2")
    ap.add_argument("--tcp-cc", default="reno",
                    help="TCP congestion control in the namespaces (default reno: loss-based "
                         "like warren's CUBIC, and allowed in a namespace where cubic may not be)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    args.seconds = args.seconds or (30.0 if args.full else 10.0)
    if os.geteuid() != 0:
        sys.exit("bench/hol.py: needs root (network namespaces, nftables, NFQUEUE); "
                 "run it with sudo /usr/bin/python3 bench/hol.py")
    for b in (WARREN, NETDELAY, ORIGIN):
        if not os.access(b, os.X_OK):
            sys.exit(f"bench/hol.py: {b} is missing: run `make all` first")
    try:
        losses = [int(x) for x in args.loss.split(",")]
    except ValueError:
        sys.exit(f"bench/hol.py: --loss takes percentages like 0,1,2,5, not {args.loss!r}")
    if any(not 0 <= x <= 100 for x in losses):
        sys.exit("bench/hol.py: loss percentages must be within 0..100")
    protos = [p for p in args.protocols.split(",") if p]
    if any(p not in ("quic", "http2") for p in protos):
        sys.exit(f"bench/hol.py: --protocols takes quic and/or http2, not {args.protocols!r}")
    # An edge with --no-http2-listener serves http2 on the TCP twin of --listen
    # by default; an older one has only --listen-http2 and needs it.
    edge_help = sh(WARREN, "edge", "--help").stdout
    state["edge_listen_h2"] = ("--listen-http2" in edge_help
                               and "--no-http2-listener" not in edge_help)
    h2_note = None
    if "http2" in protos and not http2_available():
        h2_note = "http2: not available in this build"
        protos.remove("http2")

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    tag = f"hol{os.getpid() % 100000}"
    results = {}
    with tempfile.TemporaryDirectory(prefix="warren-hol-") as tmp:
        state["tmp"] = tmp
        try:
            ne, nc, offl = setup(tag, args.delay, args.tcp_cc)
            tunnels, cred = os.path.join(tmp, "tunnels.yml"), os.path.join(tmp, "hol.json")
            sh(WARREN, "tunnel", "create", "hol", "--hostname", HOST, "--tunnels", tunnels,
               "--credentials-file", cred)
            origin = start(nc, [ORIGIN, "--listen", "127.0.0.1"], os.path.join(tmp, "origin.log"))
            oport = int(wait_log(origin, r"listening on [\d.]+:(\d+)").group(1))
            print(f"hol: namespaces {ne} and {nc}, veth {EDGE_IP} <-> {CONN_IP}, {args.delay:g} ms added each way "
                  f"(netdelay, on arrival), loss each way {losses} % (nft numgen), {args.seconds:g} s per cell, "
                  f"--ha-connections 1, TCP congestion control {state['tcp_cc']} (QUIC: CUBIC)")
            if state["tcp_cc"] != args.tcp_cc:
                print(f"hol: could not set TCP congestion control {args.tcp_cc} (not in "
                      f"net.ipv4.tcp_allowed_congestion_control?): TCP uses {state['tcp_cc']}")
            print("hol: GSO off: warren --no-gso on edge and connector"
                  + (", TSO/GSO/GRO off on the veth (ethtool)" if offl else
                     " (ethtool not usable: veth offloads left on)")
                  + " -- the firewall would otherwise drop whole super-packets")
            if h2_note:
                print(f"hol: {h2_note}")
            sys.stdout.flush()
            port = 7844  # the namespaces are ours alone: any port is free there
            for loss in losses:
                for proto in protos:
                    port += 1
                    r = run_cell(ne, nc, proto, loss, port, args, tunnels, cred, oport)
                    results[(proto, loss)] = r
                    print(f"  {proto:5} {loss:>2}%: p50 {r['p50']:.1f} p95 {r['p95']:.1f} "
                          f"p99 {r['p99']:.1f} ms, bulk {r['mbs']:.2f} MB/s, "
                          f"{r['nfails']}/{r['requests']} failed", flush=True)
        finally:
            cleanup()
    print()
    print_table(results, losses, protos, h2_note)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{p}/{l}": r for (p, l), r in results.items()}, f, indent=1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as e:
        sys.exit(f"bench/hol.py: interrupted ({e}); cleaned up")
