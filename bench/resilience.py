#!/usr/bin/python3
"""bench/resilience.py: what a crash costs the users of a tunnel, warren next to ssh -R.

    /usr/bin/python3 bench/resilience.py [--seconds 6] [--workers 20] [--only warren,ssh]
                                         [--faults kill,restart,edge]

Each fault runs against a steady load: WORKERS threads, each with its own
keep-alive HTTP/1.1 connection, one GET a worker every 10 ms at most (so a
broken tunnel that fails fast does not inflate the failure count past what
users would send), each request given 10 s. The fault strikes 1.5 s in; the
load runs for --seconds. Per fault and setup the table shows the requests
sent, how many failed (no response, or a 5xx), the worst latency, and how
long after the fault the last failure ended ("recovered").

Faults:
  kill      connector kill -9 under load. warren: two connectors (2
            connections each, its HA design), one killed and not restarted.
            ssh -R: the ssh client killed (there is no second one: one remote
            port, one client) and started again by an autossh-style loop.
  restart   connector kill -9, started again at once by a restart loop (as
            systemd's Restart= or autossh would): one warren connector; the
            ssh client.
  edge      the public side kill -9 and started again at once on the same
            ports: warren's edge; sshd (its listener and the session process
            that holds the forwarded port), the ssh client's loop reconnecting.

ssh -R is Debian's OpenSSH against a private sshd (own port, throw-away host
and user keys in a temporary folder, loopback only; the system's sshd is never
touched), `-N -R` with ServerAliveInterval=1, ServerAliveCountMax=3 and
ExitOnForwardFailure=yes, restarted 0.1 s after it exits (autossh -M 0 does
the same with a longer pause). The origin is tests/e2e/origin.py on loopback.
Every process started here is stopped at the end, on errors and on Ctrl-C too.

WARREN (default build/warren) is the binary.
"""
import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARREN = os.environ.get("WARREN", os.path.join(ROOT, "build", "warren"))
ORIGIN = os.path.join(ROOT, "tests", "e2e", "origin.py")
SSHD = "/usr/sbin/sshd"
HOST = "bench.test"
FAULT_AT = 1.5
PACE = 0.010
TIMEOUT = 10.0

procs = []  # every Popen started here, stopped by stop_all()


def start(args, log, **kw):
    """Starts args in its own process group, output appended to the file log."""
    f = open(log, "ab")
    p = subprocess.Popen([str(a) for a in args], stdout=f, stderr=subprocess.STDOUT,
                         start_new_session=True, **kw)
    f.close()
    p.log = log
    procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    """Stops p's process group: sig, then SIGKILL after 5 s."""
    if p in procs:
        procs.remove(p)
    for s, wait in ((sig, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, s)
        except ProcessLookupError:
            pass
        try:
            p.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def stop_all():
    for p in reversed(list(procs)):
        stop(p)


_given = set()


def free_port():
    """A port free for both TCP and UDP right now (an edge needs both), and
    not handed out before in this run (two asked for back to back could
    otherwise be the same)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", port))
            if port in _given:
                continue
            _given.add(port)
            return port
        except OSError:
            continue


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def wait_until(cond, what, timeout=20, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} after {timeout}s" + (f":\n{tail(log)}" if log else ""))


def count_lines(path, text):
    try:
        with open(path, errors="replace") as f:
            return sum(1 for line in f if text in line)
    except OSError:
        return 0


def answers(port, host):
    """True when a GET /hello through 127.0.0.1:port answers 200."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/hello", headers={"Host": host})
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


def descendants(root):
    """Every live process under root (from /proc's parent links)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            kids.setdefault(int(st[st.rindex(")") + 2:].split()[1]), []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    out, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


class Respawn:
    """A process started again 0.1 s after it exits (autossh, systemd Restart=),
    until stop(). .p is the current one."""

    def __init__(self, args, log):
        self.args, self.log, self.p, self.stopping = args, log, None, False
        self.lock = threading.Lock()
        self.starts = 0
        self._spawn()
        threading.Thread(target=self._loop, daemon=True).start()

    def _spawn(self):
        with self.lock:
            if not self.stopping:
                self.p = start(self.args, self.log)
                self.starts += 1

    def _loop(self):
        while not self.stopping:
            p = self.p
            p.wait()
            if p in procs:
                procs.remove(p)
            if self.stopping:
                return
            time.sleep(0.1)
            self._spawn()

    def kill(self):
        os.kill(self.p.pid, signal.SIGKILL)

    def stop(self):
        with self.lock:
            self.stopping = True
            p = self.p
        stop(p)


# --- setups ----------------------------------------------------------------

class Warren:
    """An edge and `connectors` connectors (2 connections each), optionally
    each in a restart loop."""

    def __init__(self, tmp, origin_port, connectors, respawn):
        self.tmp, self.origin_port = tmp, origin_port
        d = tempfile.mkdtemp(dir=tmp, prefix="warren-")
        self.d = d
        self.tunnels, self.cred, self.certs = (os.path.join(d, n) for n in
                                               ("tunnels.yml", "cred.json", "certs"))
        r = subprocess.run([WARREN, "tunnel", "create", "bench", "--hostname", HOST,
                            "--tunnels", self.tunnels, "--credentials-file", self.cred],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"warren tunnel create failed: {r.stderr}")
        self.eport, self.port = free_port(), free_port()
        self.edge = None
        self.start_edge()
        self.conns = []
        for i in range(connectors):
            args = [WARREN, "tunnel", "--edge", f"127.0.0.1:{self.eport}", "--edge-ca",
                    os.path.join(self.certs, "edge.crt"), "--credentials-file", self.cred,
                    "--url", f"http://127.0.0.1:{origin_port}", "--ha-connections", 2,
                    "run", "bench"]
            log = os.path.join(d, f"connector{i}.log")
            self.conns.append(Respawn(args, log) if respawn else start(args, log))
        want = 2 * connectors
        wait_until(lambda: count_lines(self.edge.log, "INF Registered tunnel connection")
                   >= want, f"{want} registrations", log=self.edge.log)
        wait_until(lambda: answers(self.port, HOST), "no answer", log=self.edge.log)
        self.host = HOST

    def start_edge(self):
        self.edge = start([WARREN, "edge", "--listen", f"127.0.0.1:{self.eport}",
                           "--http", f"127.0.0.1:{self.port}", "--tunnels", self.tunnels,
                           "--self-signed", self.certs],
                          os.path.join(self.d, f"edge{time.monotonic_ns()}.log"))
        wait_until(lambda: count_lines(self.edge.log, "INF Starting edge"), "edge start",
                   log=self.edge.log)

    def kill_connector(self):
        c = self.conns[0]
        if isinstance(c, Respawn):
            c.kill()
        else:
            os.kill(c.pid, signal.SIGKILL)

    def kill_edge(self):
        os.kill(self.edge.pid, signal.SIGKILL)
        self.edge.wait()
        procs.remove(self.edge)
        self.start_edge()

    def stop(self):
        for c in self.conns:
            c.stop() if isinstance(c, Respawn) else stop(c)
        stop(self.edge)


class Ssh:
    """ssh -N -R through a private sshd, the client in a restart loop."""

    def __init__(self, tmp, origin_port):
        d = tempfile.mkdtemp(dir=tmp, prefix="ssh-")
        self.d = d
        for key in ("host", "id"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            os.path.join(d, key)], check=True)
        shutil.copy(os.path.join(d, "id.pub"), os.path.join(d, "authorized_keys"))
        self.sport, self.port = free_port(), free_port()
        with open(os.path.join(d, "sshd_config"), "w") as f:
            f.write(f"""Port {self.sport}
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
UseDNS no
MaxStartups 100
ClientAliveInterval 1
ClientAliveCountMax 3
""")
        # sshd needs its privilege separation folder; a machine without a running sshd
        # may lack it.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.sshd = None
        self.start_sshd()
        self.client = Respawn(
            ["ssh", "-N", "-F", "/dev/null", "-i", os.path.join(d, "id"), "-p", self.sport,
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR",
             "-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=3",
             "-o", "ConnectTimeout=5",
             "-R", f"127.0.0.1:{self.port}:127.0.0.1:{origin_port}", "root@127.0.0.1"],
            os.path.join(d, "ssh.log"))
        self.host = "127.0.0.1"
        wait_until(lambda: answers(self.port, self.host), "no answer through ssh -R",
                   log=os.path.join(d, "ssh.log"))

    def start_sshd(self):
        self.sshd = start([SSHD, "-D", "-e", "-f", os.path.join(self.d, "sshd_config")],
                          os.path.join(self.d, "sshd.log"))

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.sport), 0.2).close()
                return True
            except OSError:
                return False
        wait_until(up, "sshd does not listen", log=self.sshd.log)

    def kill_connector(self):
        self.client.kill()

    def kill_edge(self):
        # The listener and every session process under it (the one holding
        # the forwarded port among them; they run in sessions of their own):
        # what a crash of the host's sshd is.
        for pid in descendants(self.sshd.pid) + [self.sshd.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.sshd.wait()
        procs.remove(self.sshd)
        self.start_sshd()

    def stop(self):
        self.client.stop()
        stop(self.sshd)


# --- load ------------------------------------------------------------------

def run_load(port, host, workers, seconds, fault):
    """Paced GETs from workers threads for seconds; fault() runs FAULT_AT in.
    Returns (results [(start, latency, ok)], fault time)."""
    results, lock = [], threading.Lock()
    t_start = time.monotonic()
    end = t_start + seconds

    def worker():
        conn = None
        while time.monotonic() < end:
            t0 = time.monotonic()
            ok = False
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
                conn.request("GET", "/hello", headers={"Host": host})
                r = conn.getresponse()
                body = r.read()
                ok = r.status == 200 and body == b"Hello from the origin\n"
                if (r.getheader("Connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            t1 = time.monotonic()
            with lock:
                results.append((t0, t1 - t0, ok))
            if t1 - t0 < PACE:
                time.sleep(PACE - (t1 - t0))
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    time.sleep(FAULT_AT)
    t_fault = time.monotonic()
    fault()
    for t in threads:
        t.join(seconds + TIMEOUT + 5)
    return results, t_fault


def summarize(results, t_fault):
    failed = [(t0, d) for t0, d, ok in results if not ok]
    worst = max(d for _, d, _ in results) if results else 0.0
    recovered = max((t0 + d - t_fault for t0, d in failed), default=0.0)
    return {"sent": len(results), "failed": len(failed), "worst": worst,
            "recovered": max(recovered, 0.0)}


# --- main ------------------------------------------------------------------

FAULTS = {
    "kill": "connector kill -9 under load",
    "restart": "connector kill -9, restarted at once",
    "edge": "edge (sshd) kill -9, restarted at once",
}


def setups_for(fault, tmp, origin_port, only):
    """[(name, factory)] for a fault."""
    out = []
    if "warren" in only:
        if fault == "kill":
            out.append(("warren, 2 connectors",
                        lambda: Warren(tmp, origin_port, connectors=2, respawn=False)))
        else:
            out.append(("warren", lambda: Warren(tmp, origin_port, connectors=1, respawn=True)))
    if "ssh" in only:
        out.append(("ssh -R + restart loop", lambda: Ssh(tmp, origin_port)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--workers", type=int, default=20)
    ap.add_argument("--only", default="warren,ssh")
    ap.add_argument("--faults", default="kill,restart,edge")
    a = ap.parse_args()
    only = set(a.only.split(","))
    faults = a.faults.split(",")
    need = [WARREN] if "warren" in only else []
    need += ["ssh", "ssh-keygen", SSHD] if "ssh" in only else []
    for tool in need:
        if not shutil.which(tool) and not os.path.exists(tool):
            sys.exit(f"resilience.py: {tool} is missing")
    tmp = tempfile.mkdtemp(prefix="warren-resilience-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        origin = start(["/usr/bin/python3", ORIGIN, "--port", "0"],
                       os.path.join(tmp, "origin.log"))
        wait_until(lambda: "listening" in tail(origin.log, 1), "origin start", log=origin.log)
        origin_port = int(tail(origin.log, 1).split()[1])
        print(f"load: {a.workers} workers, a GET each every {PACE * 1000:.0f} ms at most, "
              f"{a.seconds:g} s, fault at {FAULT_AT:g} s; request timeout {TIMEOUT:g} s")
        for fault in faults:
            print(f"\n{FAULTS[fault]}")
            print(f"  {'setup':<24} {'requests':>8} {'failed':>7} {'worst ms':>9} "
                  f"{'recovered ms':>13}")
            for name, make in setups_for(fault, tmp, origin_port, only):
                s = make()
                try:
                    action = s.kill_edge if fault == "edge" else s.kill_connector
                    res, t_fault = run_load(s.port, s.host, a.workers, a.seconds, action)
                finally:
                    s.stop()
                m = summarize(res, t_fault)
                print(f"  {name:<24} {m['sent']:>8} {m['failed']:>7} {m['worst'] * 1000:>9.0f} "
                      f"{m['recovered'] * 1000:>13.0f}", flush=True)
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
