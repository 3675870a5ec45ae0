"""--no-gso on `warren edge` and `warren tunnel run` (used by bench/hol.py): the
tunnel still carries a 4 MB download intact, and the connector's UDP sends (it
sends the download's data), seen with strace, carry no UDP_SEGMENT (GSO)
control message; without the flag the same download does use GSO, so the
check can see the difference."""
import hashlib
import shutil
import subprocess

import pytest

from conftest import WARREN, Origin, curl
from edgeenv import LoggedProc, create_tunnel, free_udp_port

SIZE = 4 << 20


def pattern_sha(n):
    block = bytes(range(256)) * 256
    h = hashlib.sha256()
    while n > 0:
        c = block[: min(n, len(block))]
        h.update(c)
        n -= len(c)
    return h.hexdigest()


def run_download(tmp, no_gso):
    """Edge, connector under strace, origin; downloads SIZE bytes through the
    tunnel. Returns (sha256 of the body, strace text)."""
    tunnels, cred = create_tunnel(tmp, "web", "app.example.com")
    port = free_udp_port()
    trace = tmp / "connector.strace"
    flags = ["--no-gso"] if no_gso else []
    edge = LoggedProc([WARREN, "edge", "--listen", f"127.0.0.1:{port}", "--http", "127.0.0.1:0",
                       "--tunnels", tunnels, "--self-signed", tmp / "certs", *flags], "edge")
    origin = Origin()
    conn = None
    try:
        line = edge.wait_for(r"INF Starting edge")[0]
        assert f"gso={'off' if no_gso else 'on'}" in line, line
        http = int(line.split("http=127.0.0.1:")[1].split()[0])
        conn = LoggedProc(["strace", "-f", "-qq", "-v", "-e", "trace=sendmmsg,sendmsg", "-o",
                           trace, WARREN, "tunnel", "--edge", f"127.0.0.1:{port}", "--edge-ca",
                           tmp / "certs" / "edge.crt", "--credentials-file", cred, "--url",
                           origin.url, "--ha-connections", "1", *flags, "run", "web"],
                          "connector")
        edge.wait_for(r"Registered tunnel connection")
        if no_gso:
            conn.wait_for(r"UDP GSO is off")
        r = curl("--resolve", f"app.example.com:{http}:127.0.0.1",
                 f"http://app.example.com:{http}/bytes/{SIZE}")
        assert r.returncode == 0, r.stderr
        return hashlib.sha256(r.stdout).hexdigest(), trace.read_text(errors="replace")
    finally:
        if conn:
            conn.stop()
        edge.stop()
        origin.stop()


def uses_gso(trace):
    """A UDP_SEGMENT control message (SOL_UDP 103; older strace prints 0x67),
    or a message longer than one datagram, means a GSO send."""
    import re
    return bool(re.search(r"cmsg_type=(UDP_SEGMENT|0x67)\b", trace)) or any(
        int(n) > 1500 for n in re.findall(r"msg_len=(\d+)", trace))


def summary(trace):
    """The control messages and send sizes in a trace, for a failure message."""
    import collections
    import re
    return (collections.Counter(re.findall(r"cmsg_type=(\w+)", trace)),
            collections.Counter(re.findall(r"msg_len=(\d+)", trace)).most_common(5),
            trace[:600])


@pytest.fixture
def need_strace():
    if not shutil.which("strace"):
        pytest.skip("strace is not installed (scripts/install-deps)")
    if subprocess.run(["strace", "-qq", "-e", "trace=none", "true"]).returncode != 0:
        pytest.skip("strace cannot trace here (ptrace not permitted)")


def test_no_gso_sends_single_datagrams(tmp_path, need_strace):
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    sha_off, trace_off = run_download(tmp_path / "off", no_gso=True)
    assert sha_off == pattern_sha(SIZE)
    assert "sendmmsg(" in trace_off or "sendmsg(" in trace_off
    assert not uses_gso(trace_off), summary(trace_off)
    sha_on, trace_on = run_download(tmp_path / "on", no_gso=False)
    assert sha_on == pattern_sha(SIZE)
    assert uses_gso(trace_on), summary(trace_on)


def test_no_gso_is_a_switch_for_tunnel_run():
    # `tunnel` finds its subcommand past flags that take values; --no-gso takes
    # none, so `run` must still be found after it.
    r = subprocess.run([str(WARREN), "tunnel", "--no-gso", "run", "--help"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "--no-gso" in r.stdout
