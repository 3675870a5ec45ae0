#!/usr/bin/python3
"""bench/tunnel.py: warren's tunnel next to the relays people use instead.

    /usr/bin/python3 bench/tunnel.py [--size 1G] [--seconds 10] [--repeat N] [--ha N]
                                     [--only direct,warren,socat,ssh-n,ssh-best]

One run measures, side by side, the same origin (build/bench/http_origin) reached
  direct      curl/wrk straight to the origin (the ceiling),
  warren      through `warren edge` + `warren tunnel run` on loopback (QUIC, TLS),
  socat       a plain TCP relay (`socat TCP-LISTEN:...,fork TCP:origin`),
  ssh -N      `ssh -N -R` as most people run it (default cipher, no tty),
  ssh best    `ssh -tt -c aes128-gcm@openssh.com -R`: a tty makes ssh and sshd
              set TCP_NODELAY, and AES-GCM is the fastest cipher with AES-NI,
with Debian's OpenSSH against a private sshd (own port, host key and authorized
key in a temporary folder, loopback only; the system's sshd is never touched).

Figures: download and upload of --size bytes with curl (MB/s, 10^6 bytes),
small requests with `wrk -c 50 -t 2 --latency` (requests/s, p50 and p99), CPU
seconds per GiB moved of the relay's processes (/proc/PID/stat over the two
transfers), and resident memory (VmRSS) of the relays, the connector and the
edge idle and after the load. Every process started here is stopped at the end,
on errors and on Ctrl-C too.

WARREN (default build/warren) is the binary; WARREN_EDGE, when set, runs the
edge from another binary (for development across branches).
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARREN = os.environ.get("WARREN", os.path.join(ROOT, "build", "warren"))
WARREN_EDGE = os.environ.get("WARREN_EDGE", WARREN)
ORIGIN = os.path.join(ROOT, "build", "bench", "http_origin")
SSHD = "/usr/sbin/sshd"
HOST = "bench.test"
TICK = os.sysconf("SC_CLK_TCK")
GIB = 1 << 30

procs = []  # every Popen started here, stopped by stop_all()


def start(args, log, **kw):
    """Starts args in its own process group, output to the file log."""
    f = open(log, "ab")
    p = subprocess.Popen([str(a) for a in args], stdout=f, stderr=subprocess.STDOUT,
                         start_new_session=True, **kw)
    f.close()
    p.log = log
    procs.append(p)
    return p


def stop(p):
    """Stops p's process group: SIGTERM, then SIGKILL after 5 s."""
    if p not in procs:
        return
    procs.remove(p)
    if p.stdin:
        try:
            p.stdin.close()
        except OSError:
            pass
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue


def stop_all():
    for p in reversed(list(procs)):
        stop(p)


def free_port(host="127.0.0.1"):
    """A port free for both TCP and UDP right now (an edge needs both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((host, port))
            return port
        except OSError:
            continue


def wait_tcp(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited ({proc.returncode}):\n{tail(proc.log)}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s:\n{tail(proc.log)}")


def wait_log(proc, pattern, count, timeout=20):
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(proc.log, errors="replace") as f:
            if sum(1 for line in f if rx.search(line)) >= count:
                return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"no {count} line(s) matching {pattern!r}:\n{tail(proc.log)}")


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# --- /proc -----------------------------------------------------------------

def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()  # fields from 3 (state) on


def children():
    """ppid -> [pid] for every process now."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                kids.setdefault(int(stat_fields(d)[1]), []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def tree(roots):
    kids, out, todo = children(), [], list(roots)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def cpu_seconds(roots):
    """CPU time of roots and their live descendants, plus reaped children's (cutime/cstime of
    the roots), so a socat child that served one connection and exited still counts."""
    total = 0
    for pid in tree(roots):
        try:
            f = stat_fields(pid)
        except OSError:
            continue
        total += int(f[11]) + int(f[12])  # utime, stime
        if pid in roots:
            total += int(f[13]) + int(f[14])  # cutime, cstime
    return total / TICK


def rss_mb(pids):
    """Sum of VmRSS over pids and their descendants, in MB (10^6)."""
    kb = 0
    for pid in tree(pids):
        try:
            with open(f"/proc/{pid}/status") as f:
                m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
            kb += int(m.group(1)) if m else 0
        except OSError:
            pass
    return kb * 1024 / 1e6


# --- setups ----------------------------------------------------------------

class Setup:
    """One way to reach the origin: a base URL, the relay's root pids, extra RSS figures."""
    name = ""

    def __init__(self, tmp, origin_port):
        self.tmp, self.origin_port = tmp, origin_port
        self.url, self.host, self.roots, self.mine = None, None, [], []
        self.rss_idle = {}

    def start(self):
        pass

    def stop(self):
        for p in reversed(self.mine):
            stop(p)

    def run(self, args, log):
        p = start(args, os.path.join(self.tmp, log))
        self.mine.append(p)
        return p


class Direct(Setup):
    name = "direct"

    def start(self):
        self.url = f"http://127.0.0.1:{self.origin_port}"


class Socat(Setup):
    name = "socat"

    def start(self):
        port = free_port()
        p = self.run(["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=1024",
                      f"TCP:127.0.0.1:{self.origin_port}"], "socat.log")
        wait_tcp(port, p)
        self.url, self.roots = f"http://127.0.0.1:{port}", [p.pid]


class Ssh(Setup):
    """ssh -R through a private sshd; best=True adds -tt and AES-GCM."""

    def __init__(self, tmp, origin_port, best):
        super().__init__(tmp, origin_port)
        self.best = best
        self.name = "ssh best" if best else "ssh -N"

    def start(self):
        d = os.path.join(self.tmp, "ssh-best" if self.best else "ssh-n")
        os.makedirs(d)
        for key in ("host", "id"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            os.path.join(d, key)], check=True)
        shutil.copy(os.path.join(d, "id.pub"), os.path.join(d, "authorized_keys"))
        sport = free_port()
        with open(os.path.join(d, "sshd_config"), "w") as f:
            f.write(f"""Port {sport}
ListenAddress 127.0.0.1
HostKey {d}/host
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
GatewayPorts no
X11Forwarding no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100
""")
        # sshd refuses to start without its privilege separation folder; Debian's service
        # creates it at boot, a machine without a running sshd may lack it.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        sshd = self.run([SSHD, "-D", "-e", "-f", os.path.join(d, "sshd_config")], "sshd.log")
        wait_tcp(sport, sshd)
        rport = free_port()
        common = ["-F", "/dev/null", "-i", os.path.join(d, "id"), "-p", str(sport),
                  "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                  "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
                  "-o", "LogLevel=ERROR",
                  "-R", f"127.0.0.1:{rport}:127.0.0.1:{self.origin_port}"]
        if self.best:
            # A tty session makes both ends set TCP_NODELAY; stdin stays an open pipe.
            args = ["ssh", "-tt", "-c", "aes128-gcm@openssh.com", *common, "root@127.0.0.1",
                    "sleep 100000"]
            p = start(args, os.path.join(self.tmp, "ssh.log"), stdin=subprocess.PIPE)
            self.mine.append(p)
        else:
            p = self.run(["ssh", "-N", *common, "root@127.0.0.1"], "ssh.log")
        wait_tcp(rport, p)
        self.url, self.roots = f"http://127.0.0.1:{rport}", [p.pid, sshd.pid]


class Warren(Setup):
    name = "warren"

    def __init__(self, tmp, origin_port, ha):
        super().__init__(tmp, origin_port)
        self.ha = ha

    def start(self):
        d = os.path.join(self.tmp, "warren")
        os.makedirs(d)
        tunnels, cred, certs = (os.path.join(d, n) for n in ("tunnels.yml", "cred.json", "certs"))
        r = subprocess.run([WARREN, "tunnel", "create", "bench", "--hostname", HOST,
                            "--tunnels", tunnels, "--credentials-file", cred],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"warren tunnel create failed: {r.stderr}")
        eport, hport = free_port(), free_port()
        edge = self.run([WARREN_EDGE, "edge", "--listen", f"127.0.0.1:{eport}",
                         "--http", f"127.0.0.1:{hport}", "--tunnels", tunnels,
                         "--self-signed", certs], "edge.log")
        wait_tcp(hport, edge)
        conn = self.run([WARREN, "tunnel", "--edge", f"127.0.0.1:{eport}",
                         "--edge-ca", os.path.join(certs, "edge.crt"),
                         "--credentials-file", cred, "--url",
                         f"http://127.0.0.1:{self.origin_port}",
                         "--ha-connections", self.ha, "run", "bench"], "connector.log")
        wait_log(conn, r"INF Registered tunnel connection", self.ha)
        time.sleep(1)  # let both settle before the idle figures
        self.edge, self.conn = edge, conn
        self.url, self.host, self.roots = f"http://127.0.0.1:{hport}", HOST, [conn.pid, edge.pid]
        self.rss_idle = {"connector": rss_mb([conn.pid]), "edge": rss_mb([edge.pid])}


def warren_available():
    """True when the binaries have an edge and a connector (`tunnel run` with its flags)."""
    try:
        edge = subprocess.run([WARREN_EDGE, "edge", "--help"], capture_output=True)
        run = subprocess.run([WARREN, "tunnel", "run", "--help"], capture_output=True, text=True)
    except OSError:
        return False
    return edge.returncode == 0 and "--ha-connections" in run.stdout + run.stderr


# --- measurements ----------------------------------------------------------

def curl(setup, extra, path, timeout):
    args = ["curl", "-sS", "--max-time", str(timeout), "-o", os.devnull, "-w",
            "%{http_code} %{size_download} %{size_upload} %{time_total}"]
    if setup.host:
        args += ["-H", f"Host: {setup.host}"]
    r = subprocess.run(args + extra + [setup.url + path], capture_output=True, text=True,
                       timeout=timeout + 10)
    if r.returncode:
        raise RuntimeError(f"curl {path}: {r.stderr.strip()}")
    code, down, up, secs = r.stdout.split()
    return int(code), int(down), int(up), float(secs)


def measure(setup, size, upfile, seconds, timeout, repeat):
    """Best of `repeat` downloads and uploads, CPU over all of them, then wrk."""
    res = {"down": 0, "up": 0}
    cpu0 = cpu_seconds(setup.roots) if setup.roots else None
    for _ in range(repeat):
        code, down, _, secs = curl(setup, [], f"/bytes/{size}", timeout)
        if code != 200 or down != size:
            raise RuntimeError(f"download: status {code}, {down} of {size} bytes")
        res["down"] = max(res["down"], size / secs / 1e6)
        # PUT streams the file (no Expect: the 1 s wait for 100 Continue is not measured).
        code, _, up, secs = curl(setup, ["-T", upfile, "-H", "Expect:"], "/upload", timeout)
        if code != 200 or up != size:
            raise RuntimeError(f"upload: status {code}, {up} of {size} bytes sent")
        res["up"] = max(res["up"], size / secs / 1e6)
    if cpu0 is not None:
        res["cpu"] = (cpu_seconds(setup.roots) - cpu0) / (2 * repeat * size / GIB)
    args = ["wrk", "-c", "50", "-t", "2", "-d", f"{seconds}s", "--latency", "--timeout", "5s"]
    if setup.host:
        args += ["-H", f"Host: {setup.host}"]
    r = subprocess.run(args + [setup.url + "/small"], capture_output=True, text=True,
                       timeout=seconds + 30)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    if r.returncode or not m:
        raise RuntimeError(f"wrk: {r.stdout}{r.stderr}")
    res["rps"] = float(m.group(1))
    for q in ("50", "99"):
        lm = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", r.stdout, re.M)
        res["p" + q] = float(lm.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[lm.group(2)]
    total = re.search(r"(\d+) requests in", r.stdout)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    errs = re.search(r"Socket errors: (.*)", r.stdout)
    res["errors"] = ", ".join(x for x in (
        bad and f"{bad.group(1)} of {total.group(1) if total else '?'} responses not 2xx",
        errs and f"socket errors: {errs.group(1)}") if x)
    # Failed answers are often fast ones: such a rate is not comparable, and says so.
    res["rps_bad"] = bool(bad and total and int(bad.group(1)) * 100 > int(total.group(1)))
    time.sleep(0.5)  # socat's per-connection children exit once wrk has closed
    if setup.roots:
        res["rss"] = rss_mb(setup.roots)
    if isinstance(setup, Warren):
        res["rss_conn"] = rss_mb([setup.conn.pid])
        res["rss_edge"] = rss_mb([setup.edge.pid])
    return res


def parse_size(s):
    m = re.fullmatch(r"(\d+)([KMG]?)", s)
    if not m:
        raise argparse.ArgumentTypeError(f"{s}: a size like 1G, 256M or 1048576")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def report(cols, results, notes):
    rows = [("download MB/s", "down", ".0f"), ("upload MB/s", "up", ".0f"),
            ("small requests/s", "rps", ".0f"), ("p50 latency ms", "p50", ".2f"),
            ("p99 latency ms", "p99", ".2f"), ("relay CPU s/GiB", "cpu", ".2f"),
            ("relay RSS MB after", "rss", ".1f")]
    w = 11
    print(f"{'':22}" + "".join(f"{c:>{w}}" for c in cols))
    for label, key, spec in rows:
        cells = []
        for c in cols:
            r = results.get(c, {})
            mark = "!" if key in ("rps", "p50", "p99") and r.get("rps_bad") else ""
            cells.append(f"{fmt(r.get(key), spec) + mark:>{w}}")
        print(f"{label:22}" + "".join(cells))
    wr = results.get("warren")
    if wr:
        print()
        print("warren's figure / the other's (throughput and requests/s: higher is better;")
        print("latency and CPU: lower is better)")
        others = [c for c in ("ssh best", "socat", "ssh -N", "direct") if c in results]
        print(f"{'':22}" + "".join(f"{'vs ' + c:>{w + 2}}" for c in others))
        for label, key, _ in rows[:6]:
            cells = []
            for c in others:
                a, b = wr.get(key), results[c].get(key)
                bad = key in ("rps", "p50", "p99") and (wr.get("rps_bad") or
                                                        results[c].get("rps_bad"))
                cells.append(f"{a / b:.2f}x" + ("!" if bad else "") if a and b else "-")
            print(f"{label:22}" + "".join(f"{x:>{w + 2}}" for x in cells))
        print()
        print(f"warren connector RSS: {wr['rss_idle_conn']:.1f} MB idle, "
              f"{wr['rss_conn']:.1f} MB after the load")
        print(f"warren edge RSS:      {wr['rss_idle_edge']:.1f} MB idle, "
              f"{wr['rss_edge']:.1f} MB after the load")
    for line in notes:
        print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=parse_size, default=1 << 30,
                    help="bytes per download and upload (default 1G)")
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration (default 10)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="transfers per direction, the best counts (default 1)")
    ap.add_argument("--ha", type=int, default=4, help="connector's --ha-connections (default 4)")
    ap.add_argument("--only", default="", help="comma-separated columns to run: "
                    "direct,warren,socat,ssh-n,ssh-best")
    ap.add_argument("--timeout", type=int, default=180, help="seconds per transfer (default 180)")
    opt = ap.parse_args()

    for tool in ("curl", "wrk", "socat", "ssh", "ssh-keygen", SSHD, ORIGIN):
        if not shutil.which(tool):
            sys.exit(f"bench/tunnel.py: {tool} is missing: run `make deps all`")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="warren-tbench.")
    notes, results = [], {}
    try:
        upfile = os.path.join(tmp, "upload.bin")
        with open(upfile, "wb") as f:
            f.truncate(opt.size)  # sparse: reading it costs no disk I/O
        origin = start([ORIGIN], os.path.join(tmp, "origin.log"))
        deadline = time.monotonic() + 5
        port = None
        while port is None and time.monotonic() < deadline:
            m = re.search(r"listening on [\d.]+:(\d+)", tail(origin.log))
            port = int(m.group(1)) if m else time.sleep(0.05)
        if port is None:
            sys.exit(f"bench/tunnel.py: the origin did not start:\n{tail(origin.log)}")

        setups = [Direct(tmp, port)]
        if warren_available():
            setups.append(Warren(tmp, port, opt.ha))
        else:
            notes.append(f"warren: not available ({WARREN} has no `edge` or `tunnel run`)")
        setups += [Socat(tmp, port), Ssh(tmp, port, False), Ssh(tmp, port, True)]
        if opt.only:
            want = {x.strip().replace("-", " ") for x in opt.only.split(",")}
            want = {"ssh -N" if w == "ssh n" else w for w in want}
            setups = [s for s in setups if s.name in want]
        cols = [s.name for s in setups]
        if "warren" not in cols and not opt.only:
            cols.insert(1, "warren")

        print(f"tunnel benchmark: {opt.size / GIB:g} GiB each way (best of {opt.repeat}), wrk -c 50 -t 2 -d "
              f"{opt.seconds}s; {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f} at start", flush=True)
        for s in setups:
            t0 = time.monotonic()
            try:
                s.start()
                r = measure(s, opt.size, upfile, opt.seconds, opt.timeout, opt.repeat)
                if isinstance(s, Warren):
                    r["rss_idle_conn"] = s.rss_idle["connector"]
                    r["rss_idle_edge"] = s.rss_idle["edge"]
                results[s.name] = r
                if r.get("errors"):
                    notes.append(f"{s.name}: wrk saw {r['errors']}" +
                                 ("; figures marked ! count them" if r["rps_bad"] else ""))
                print(f"  {s.name}: done in {time.monotonic() - t0:.0f}s", file=sys.stderr,
                      flush=True)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                notes.append(f"{s.name}: failed: {e}")
                print(f"  {s.name}: failed: {e}", file=sys.stderr, flush=True)
            finally:
                s.stop()
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        print()
        report(cols, results, notes)
        return 0 if results else 1
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)
