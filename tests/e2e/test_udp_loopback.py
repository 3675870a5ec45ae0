"""The wrong-source bug on loopback, through `warren diag udp`: a wildcard
server answers clients that talk to 127.0.0.2 and 127.0.0.3 from those very
addresses; a plain-sendto() server in the same test does not, so the test can
fail. strace shows the control message that really went out."""
import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import WARREN, run_warren
from udpdiag import diag_connect, have_ipv6, listener


def ok_line(res, target):
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"OK: 3/3 replies came back from {target}" in res.stdout


def test_ipv4_wildcard_answers_from_the_address_it_was_reached_on(warren_bin):
    with listener("0.0.0.0:0") as srv:
        for ip in ("127.0.0.2", "127.0.0.3"):
            ok_line(diag_connect(f"{ip}:{srv.port}"), f"{ip}:{srv.port}")
    # 3 probes from each of two sockets, to each of two addresses.
    lines = srv.datagram_lines()
    assert len(lines) == 12
    for d in lines:
        dst = d["to"].rsplit(":", 1)[0]
        assert dst in ("127.0.0.2", "127.0.0.3")
        assert d["reply_src"] == dst
        assert d["via"] == "pktinfo"
        assert d["iface"] == "lo"
        assert d["ecn"] == "ECT(0)"
        # The kernel alone would have picked 127.0.0.1: the case is a real one.
        assert d["kernel_choice"] == "127.0.0.1"

    # Control: the same topology with plain sendto() replies fails, and the
    # diagnostic says where the replies came from instead.
    with listener("0.0.0.0:0", extra=["--sendto-reply"]) as bad:
        for ip in ("127.0.0.2", "127.0.0.3"):
            res = diag_connect(f"{ip}:{bad.port}", timeout=300)
            assert res.returncode == 1, res.stdout
            assert f"FAIL: 0/3 replies came back from {ip}:{bad.port}" in res.stdout
            assert f"3 came from 127.0.0.1:{bad.port} instead" in res.stdout
    assert all(d["via"] == "sendto" and d["reply_src"] == "127.0.0.1"
               for d in bad.datagram_lines())


@pytest.mark.skipif(not have_ipv6(), reason="IPv6 is not available on this host")
def test_dualstack_server_answers_ipv4_client(warren_bin):
    with listener("[::]:0") as srv:
        ok_line(diag_connect(f"127.0.0.2:{srv.port}"), f"127.0.0.2:{srv.port}")
        ok_line(diag_connect(f"[::1]:{srv.port}"), f"[::1]:{srv.port}")
    lines = srv.datagram_lines()
    assert len(lines) == 12
    v4 = [d for d in lines if d["to"].startswith("127.")]
    assert len(v4) == 6 and all(d["reply_src"] == "127.0.0.2" for d in v4)
    with listener("[::]:0", extra=["--sendto-reply"]) as bad:
        res = diag_connect(f"127.0.0.2:{bad.port}", timeout=300)
        assert res.returncode == 1
        assert "came from 127.0.0.1" in res.stdout


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
@pytest.mark.parametrize("bind,level,pattern", [
    ("0.0.0.0:0", "SOL_IP", r'cmsg_type=IP_PKTINFO, cmsg_data=\{ipi_ifindex=0, '
                            r'ipi_spec_dst=inet_addr\("127\.0\.0\.2"\)'),
    # This strace prints IPV6_PKTINFO (50) as 0x32 without its data; that the
    # address inside is right is what the connected client's reply shows.
    pytest.param("[::]:0", "SOL_IPV6", r'cmsg_level=SOL_IPV6, cmsg_type=(IPV6_PKTINFO|0x32)',
                 marks=pytest.mark.skipif(not have_ipv6(), reason="no IPv6 on this host")),
])
def test_strace_shows_the_source_control_message(warren_bin, tmp_path, bind, level, pattern):
    """What the kernel was given, not what the code meant: the reply's
    sendmmsg carries PKTINFO at the right level with the right address."""
    trace = tmp_path / "trace"
    proc = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=sendmmsg", "-o", str(trace),
                             "-v", "-s", "64", str(WARREN), "diag", "udp", "--listen", bind,
                             "--count", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline()
    port = int(re.match(r"listening on \S+:(\d+) ", line).group(1))
    res = diag_connect(f"127.0.0.2:{port}", count=1)
    assert res.returncode == 0, res.stdout
    proc.communicate(timeout=10)
    text = trace.read_text()
    assert f"cmsg_level={level}" in text, text
    assert re.search(pattern, text), text


def test_no_listener_is_reported(warren_bin):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    res = diag_connect(f"127.0.0.1:{port}", count=2, timeout=300)
    assert res.returncode == 1
    assert f"FAIL: nothing listens on 127.0.0.1:{port}" in res.stdout


@pytest.mark.parametrize("args,message", [
    (["--listen", "127.0.0.1"], 'needs a port: write ADDR:PORT'),
    (["--listen", "::1:80"], "write it as [IPv6]:PORT"),
    (["--connect", "127.0.0.1:70000"], "bad port"),
    (["--connect", "localhost:80"], "not a numeric IPv4 address"),
    (["--connect", "[::1]:0"], "needs a port other than 0"),
    (["--connect", "127.0.0.1:9", "--count", "0"], "--count must be between 1"),
    (["--connect", "127.0.0.1:9", "--timeout", "abc"], "--timeout takes a whole number"),
    (["--listen", "0.0.0.0:0", "--timeout", "5"], "go with --connect"),
    (["--connect", "127.0.0.1:9", "--sendto-reply"], "goes with --listen"),
    (["--listen", "0.0.0.0:0", "--connect", "127.0.0.1:9"], "exactly one of"),
    ([], "exactly one of"),
    (["--listen", "0.0.0.0:0", "--buffer", "12Q"], "--buffer takes a size"),
    (["--bogus"], "unknown flag --bogus"),
])
def test_bad_values_exit_2(warren_bin, args, message):
    res = run_warren("diag", "udp", *args)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert res.stderr.startswith("warren: ")


def test_help(warren_bin):
    res = run_warren("diag", "udp", "--help")
    assert res.returncode == 0
    assert "--sendto-reply" in res.stdout and "--connect ADDR:PORT" in res.stdout
    assert run_warren("diag", "nope").returncode == 2
    assert run_warren("diag", "--help").returncode == 0


def test_unconfigured_address_is_a_clear_failure(warren_bin):
    res = run_warren("diag", "udp", "--listen", "192.0.2.1:0")
    assert res.returncode == 1
    assert "cannot listen on 192.0.2.1:0" in res.stderr
    assert "is this address configured on this machine?" in res.stderr


def test_demo_script_ends_by_itself(warren_bin):
    demo = WARREN.parents[1] / "scripts" / "demo"
    res = subprocess.run([str(demo), "--udp"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "OK: 3/3 replies came back from 127.0.0.2:" in res.stdout
    assert "came from 127.0.0.1:" in res.stdout
    assert "demo: as expected" in res.stdout


def granted_line(stderr):
    m = re.search(r" INF UDP socket ready addr=\S+ rcvbuf=(\d+) sndbuf=(\d+) requested=(\d+)",
                  stderr)
    assert m, stderr
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def start_and_stop(prefix, *flags):
    """Starts a listener (as prefix says), then stops it; returns its stderr."""
    proc = subprocess.Popen([*prefix, str(WARREN), "diag", "udp", "--listen", "127.0.0.1:0",
                             *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("listening on ")
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to compare with and without it")
def test_buffer_sizes_reported_without_scary_warnings(warren_bin):
    # As root SO_RCVBUFFORCE grants what was asked (Linux reports it doubled).
    err = start_and_stop([], "--buffer", "3M")
    assert granted_line(err) == (6 << 20, 6 << 20, 3 << 20)
    assert " WRN " not in err and " ERR " not in err
    # Unprivileged, the kernel caps at net.core.rmem_max: still one calm INF line.
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    rmem_max = int(open("/proc/sys/net/core/rmem_max").read())
    err = start_and_stop(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                          "--inh-caps=-all", "--bounding-set=-all"])
    rcv, _, req = granted_line(err)
    assert req == 8 << 20
    assert rcv == 2 * min(req, rmem_max)
    assert " WRN " not in err and " ERR " not in err
