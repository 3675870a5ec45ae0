#!/usr/bin/python3
"""bench/gateway.py: warren's IPFS gateway next to nginx serving the same bytes.

    /usr/bin/python3 bench/gateway.py [--size 256M] [--repeat 5] [--seconds 5]

One run, side by side on loopback:
  nginx     nginx (Debian's nginx-light, sendfile on) serving the file from disk:
            the limit a gateway can aim at,
  warren    `warren edge --gateway` serving the same file imported with `warren add`
            (UnixFS, 256 KiB chunks, every block's hash checked on read).
Figures: download of --size bytes with curl (MB/s, 10^6 bytes, best and median of
--repeat, the file in the page cache for both), 4 KiB files with
`wrk -c 50 -t 2 --latency` (requests/s, p50 and p99), raw-block requests/s
(?format=raw of a 4 KiB block), the ratio warren/nginx, and the edge's
resident memory (anonymous: the LMDB map is the page cache) after the load.
Every process started here is stopped at the end, on errors and on Ctrl-C too.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARREN = os.environ.get("WARREN", os.path.join(ROOT, "build", "warren"))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = "gw.bench"
procs = []


def start(args, log):
    f = open(log, "ab")
    p = subprocess.Popen([str(a) for a in args], stdout=f, stderr=subprocess.STDOUT,
                         start_new_session=True)
    f.close()
    procs.append(p)
    return p


def stop_all():
    for p in procs:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                p.wait(5)
                break
            except subprocess.TimeoutExpired:
                continue
    procs.clear()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def parse_size(s):
    m = re.fullmatch(r"(\d+)([KMG]?)", s)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def curl_speed(url, host):
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-H", f"Host: {host}", "-w",
                        "%{http_code} %{speed_download}", url], capture_output=True, text=True,
                       timeout=600)
    code, speed = r.stdout.split()
    assert code == "200", r.stdout + r.stderr
    return float(speed) / 1e6


def wrk(url, host, seconds):
    r = subprocess.run(["wrk", "-c", "50", "-t", "2", "-d", f"{seconds}s", "--latency", "-H",
                        f"Host: {host}", url], capture_output=True, text=True,
                       timeout=seconds + 60)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", r.stdout).group(1))
    lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", r.stdout))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    assert not non2xx, r.stdout
    return rps, lat.get("50", "-"), lat.get("99", "-")


def rss_anon_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="256M")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    a = ap.parse_args()
    size = parse_size(a.size)
    tmp = tempfile.mkdtemp(prefix="wr-gwbench-")
    try:
        www = os.path.join(tmp, "www")
        os.makedirs(www)
        big = os.path.join(www, "big.bin")
        with open(big, "wb") as f:
            left = size
            while left:
                n = min(left, 1 << 20)
                f.write(os.urandom(n))
                left -= n
        small = os.path.join(www, "small.bin")
        with open(small, "wb") as f:
            f.write(os.urandom(4096))
        repo = os.path.join(tmp, "repo")
        out = subprocess.run([WARREN, "--repo", repo, "add", "-r", www], capture_output=True,
                             text=True, check=True).stdout
        cids = {l.split()[2].split("/")[-1]: l.split()[1] for l in out.splitlines()}
        small_v1 = subprocess.run([WARREN, "--repo", repo, "add", "-Q", "--cid-version=1", small],
                                  capture_output=True, text=True, check=True).stdout.strip()
        nport, wport = free_port(), free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off; worker_processes 1; pid {tmp}/nginx.pid;
error_log {tmp}/nginx.err; events {{ worker_connections 1024; }}
http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{ listen 127.0.0.1:{nport}; root {www}; }} }}
""")
        start([NGINX, "-c", conf, "-p", tmp], os.path.join(tmp, "nginx.log"))
        edge = start([WARREN, "--repo", repo, "edge", "--listen", "127.0.0.1:0", "--http",
                      f"127.0.0.1:{wport}", "--self-signed", os.path.join(tmp, "certs"),
                      "--no-http2-listener", "--gateway", HOST],
                     os.path.join(tmp, "edge.log"))
        wait_port(nport)
        wait_port(wport)
        nurl = f"http://127.0.0.1:{nport}"
        wurl = f"http://127.0.0.1:{wport}"
        rows = []
        for name, url, host in (("nginx", f"{nurl}/big.bin", "localhost"),
                                ("warren", f"{wurl}/ipfs/{cids['big.bin']}", HOST)):
            curl_speed(url, host)  # warm the page cache
            s = [curl_speed(url, host) for _ in range(a.repeat)]
            rows.append((name, max(s), statistics.median(s)))
        print(f"download of {size} bytes with curl (MB/s), best / median of {a.repeat}:")
        for name, best, med in rows:
            print(f"  {name:8} {best:8.0f} {med:8.0f}")
        print(f"  ratio warren/nginx: best {rows[1][1] / rows[0][1]:.2f}, "
              f"median {rows[1][2] / rows[0][2]:.2f}")
        print(f"4 KiB files, wrk -c 50 -t 2 -d {a.seconds}s (requests/s, p50, p99):")
        r_n = wrk(f"{nurl}/small.bin", "localhost", a.seconds)
        r_w = wrk(f"{wurl}/ipfs/{cids['small.bin']}", HOST, a.seconds)
        r_b = wrk(f"{wurl}/ipfs/{small_v1}?format=raw", HOST, a.seconds)
        for name, r in (("nginx", r_n), ("warren", r_w), ("raw block", r_b)):
            print(f"  {name:10} {r[0]:10.0f} {r[1]:>9} {r[2]:>9}")
        print(f"  ratio warren/nginx: {r_w[0] / r_n[0]:.2f}")
        print(f"edge anonymous memory after the load: {rss_anon_kb(edge.pid)} kB")
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
