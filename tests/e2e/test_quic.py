"""QUIC layer end to end with `warren diag quic`: a wildcard server reached at
127.0.0.2 (strace shows the source address that really went out), a [::]
server with an IPv4 client, certificate refusal, forced Retry, and interop with
Debian's ngtcp2 HTTP/3 peers gtlsserver and gtlsclient."""
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import WARREN, run_warren


class QuicListener:
    """`warren diag quic --listen` in the background; .port, .fingerprint."""

    def __init__(self, tmp_path, bind="0.0.0.0:0", extra=(), strace=None):
        self.dir = tmp_path / "ss"
        argv = [str(WARREN), "diag", "quic", "--listen", bind, "--self-signed", str(self.dir),
                *extra]
        if strace:
            argv = ["strace", "-f", "-qq", "-e", "trace=sendmsg,sendmmsg", "-o", str(strace),
                    "-v", "-s", "64", *argv]
        self.log = tmp_path / "listener.log"
        # A session of its own: stop() signals strace and the warren it traces
        # together (strace alone would detach on SIGINT and leave warren running).
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(self.log, "w"),
                                     text=True, start_new_session=True)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on (\S+):(\d+) alpn=(\S+) fingerprint=(sha256:[0-9a-f]{64})", line)
        assert m, f"no listening line: {line!r} {self.log.read_text()}"
        self.port = int(m.group(2))
        self.fingerprint = m.group(4)
        self.cert = self.dir / "edge.crt"

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.log.read_text()


@pytest.fixture
def listener(tmp_path):
    made = []

    def make(**kw):
        lst = QuicListener(tmp_path, **kw)
        made.append(lst)
        return lst

    yield make
    for lst in made:
        lst.stop()


def connect(target, *args, timeout=60):
    return run_warren("diag", "quic", "--connect", target, *args, timeout=timeout)


def test_wildcard_server_answers_from_the_dialed_address(warren_bin, tmp_path, listener):
    """Server on 0.0.0.0, client dialing 127.0.0.2: 8 MiB echoed and checked by
    SHA-256; the server saw the connection on 127.0.0.2 and every packet it
    sent carried IP_PKTINFO with source 127.0.0.2."""
    trace = tmp_path / "trace"
    lst = listener(bind="0.0.0.0:0", strace=trace)
    res = connect(f"127.0.0.2:{lst.port}", "--ca", str(lst.cert), "--bytes", "8M")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("ok: 8388608 bytes echoed"), res.stdout
    log = lst.stop()
    assert re.search(r"QUIC connection accepted .* local=127\.0\.0\.2:%d" % lst.port, log), log
    text = trace.read_text()
    dsts = re.findall(r'ipi_spec_dst=inet_addr\("([0-9.]+)"\)', text)
    assert dsts, text[:2000]
    assert set(dsts) == {"127.0.0.2"}, set(dsts)


def test_dual_stack_server_with_ipv4_client(warren_bin, listener):
    lst = listener(bind="[::]:0")
    res = connect(f"127.0.0.2:{lst.port}", "--ca", str(lst.cert), "--bytes", "1M",
                  "--streams", "3")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ok: 3145728 bytes echoed on 3 streams" in res.stdout
    assert re.search(r"local=\[?(::ffff:)?127\.0\.0\.2\]?:", lst.stop())


def test_pin_accepted_and_wrong_pin_refused(warren_bin, listener):
    lst = listener(bind="127.0.0.1:0")
    ok = connect(f"127.0.0.1:{lst.port}", "--pin", lst.fingerprint, "--bytes", "100k")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = connect(f"127.0.0.1:{lst.port}", "--pin", "sha256:" + "ab" * 32, "--bytes", "1k")
    assert bad.returncode == 1
    assert "server certificate refused" in bad.stdout
    assert "matches no pinned fingerprint" in bad.stdout


def test_wrong_ca_refused_with_a_clear_message(warren_bin, tmp_path, listener):
    lst = listener(bind="127.0.0.1:0")
    other = tmp_path / "other"
    # A second self-signed pair: a CA that did not sign the server's certificate.
    p = subprocess.Popen([str(WARREN), "diag", "quic", "--listen", "127.0.0.1:0",
                          "--self-signed", str(other)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    p.stdout.readline()
    p.send_signal(signal.SIGINT)
    p.wait(timeout=10)
    res = connect(f"127.0.0.1:{lst.port}", "--ca", str(other / "edge.crt"), "--bytes", "1k")
    assert res.returncode == 1
    assert "server certificate refused: it does not verify against the CA file" in res.stdout
    assert str(other / "edge.crt") in res.stdout


def test_retry_forced_still_connects(warren_bin, listener):
    lst = listener(bind="127.0.0.1:0", extra=("--retry", "always"))
    res = connect(f"127.0.0.1:{lst.port}", "--ca", str(lst.cert), "--bytes", "256k")
    assert res.returncode == 0, res.stdout + res.stderr


def test_usage_errors(warren_bin):
    res = run_warren("diag", "quic", "--connect", "127.0.0.1:1")
    assert res.returncode == 2
    assert "--ca FILE or --pin" in res.stderr
    res = run_warren("diag", "quic", "--listen", "127.0.0.1:0")
    assert res.returncode == 2
    assert "--self-signed" in res.stderr
    res = run_warren("diag", "quic", "--connect", "127.0.0.1:1", "--pin", "sha256:12")
    assert res.returncode == 1
    assert "is not a SHA-256 fingerprint" in res.stderr


def test_nobody_listening_times_out_with_a_reason(warren_bin, tmp_path):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))  # a bound socket that never answers
    port = s.getsockname()[1]
    p = subprocess.Popen([str(WARREN), "diag", "quic", "--listen", "127.0.0.1:0",
                          "--self-signed", str(tmp_path / "ss")], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    p.stdout.readline()
    p.send_signal(signal.SIGINT)
    p.wait(timeout=10)
    res = connect(f"127.0.0.1:{port}", "--ca", str(tmp_path / "ss" / "edge.crt"),
                  "--timeout", "1500")
    s.close()
    assert res.returncode == 1
    assert res.stdout.startswith("failed:")


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.skipif(not shutil.which("gtlsserver"), reason="ngtcp2-server is not installed")
def test_interop_our_client_against_gtlsserver(warren_bin, tmp_path, listener):
    """Our client speaks minimal HTTP/3 to Debian's gtlsserver: handshake
    verified against the certificate, the server's control stream seen, and a
    300 kB file fetched intact."""
    lst = listener(bind="127.0.0.1:0")  # only to create a certificate pair
    lst.stop()
    htdocs = tmp_path / "htdocs"
    htdocs.mkdir()
    blob = os.urandom(300000)
    (htdocs / "blob").write_bytes(blob)
    port = free_udp_port()
    srv = subprocess.Popen(["gtlsserver", "-q", "-d", str(htdocs), "127.0.0.1", str(port),
                            str(lst.dir / "edge.key"), str(lst.cert)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        res = None
        for _ in range(20):  # gtlsserver needs a moment to bind
            res = connect(f"127.0.0.1:{port}", "--ca", str(lst.cert), "--h3", "--path", "/blob",
                          "--timeout", "3000")
            if res.returncode == 0:
                break
        assert res.returncode == 0, res.stdout + res.stderr
        want = hashlib.sha256(blob).hexdigest()
        assert f"ok: HTTP/3 status 200, 300000 body bytes sha256={want}" in res.stdout
        assert "peer control stream seen" in res.stdout
    finally:
        srv.terminate()
        srv.wait(timeout=10)


@pytest.mark.skipif(not shutil.which("gtlsclient"), reason="ngtcp2-client is not installed")
def test_interop_gtlsclient_against_our_server(warren_bin, tmp_path, listener):
    lst = listener(bind="0.0.0.0:0", extra=("--h3",))
    dl = tmp_path / "dl"
    dl.mkdir()
    res = subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close",
                          f"--download={dl}", "127.0.0.2", str(lst.port),
                          f"https://127.0.0.2:{lst.port}/hello.txt"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (dl / "hello.txt").read_text() == "hello from warren over HTTP/3\n"
    log = lst.stop()
    assert re.search(r"QUIC connection accepted .* local=127\.0\.0\.2:\d+ alpn=h3", log), log


def test_sink_mode_one_way_with_and_without_gso(warren_bin, listener):
    """One-way transfer: the server answers with the SHA-256 of what it read,
    with GSO and without it (one datagram per packet on the wire)."""
    lst = listener(bind="0.0.0.0:0", extra=("--sink",))
    for extra in ((), ("--no-gso",)):
        res = connect(f"127.0.0.2:{lst.port}", "--ca", str(lst.cert), "--bytes", "16M", "--sink",
                      *extra)
        assert res.returncode == 0, res.stdout + res.stderr
        assert res.stdout.startswith("ok: 16777216 bytes sent and verified"), res.stdout
    # An echo client against a sink server notices the mismatch.
    res = connect(f"127.0.0.2:{lst.port}", "--ca", str(lst.cert), "--bytes", "1M")
    assert res.returncode == 1
    assert "echo differs" in res.stdout


@pytest.mark.skipif(not shutil.which("gtlsclient"), reason="ngtcp2-client is not installed")
def test_interop_gtlsclient_downloads_under_loss(warren_bin, tmp_path, listener):
    """gtlsclient drops 5 % of packets each way (its own --rx-loss/--tx-loss)
    while downloading 3 MiB from our server over HTTP/3: our retransmissions
    come from the send queue, the body arrives intact."""
    size = 3 * 1024 * 1024
    lst = listener(bind="127.0.0.1:0", extra=("--h3", "--bytes", str(size)))
    dl = tmp_path / "dl"
    dl.mkdir()
    res = subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", "--rx-loss=0.05",
                          "--tx-loss=0.05", f"--download={dl}", "127.0.0.1", str(lst.port),
                          f"https://127.0.0.1:{lst.port}/big"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    want = bytes(((i * 2654435761) >> 11) & 0xff for i in range(size))
    got = (dl / "big").read_bytes()
    assert len(got) == size
    assert hashlib.sha256(got).digest() == hashlib.sha256(want).digest()
    log = lst.stop()
    m = re.search(r"QUIC connection closed .* lost=(\d+)", log)
    assert m and int(m.group(1)) > 0, log
