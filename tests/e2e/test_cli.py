"""The command line: help that helps, and one clear sentence with exit 2 on misuse."""
import json
import signal
import socket
import subprocess

from conftest import WARREN, run_warren


def test_help_lists_commands(warren_bin):
    r = run_warren("--help")
    assert r.returncode == 0
    assert "Usage: warren" in r.stdout
    assert "--loglevel" in r.stdout


def test_no_command_prints_usage_and_exits_2(warren_bin):
    r = run_warren()
    assert r.returncode == 2
    assert "Usage: warren" in r.stderr


def test_unknown_command(warren_bin):
    r = run_warren("frobnicate")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == 'warren: unknown command "frobnicate".'


def test_unknown_global_flag(warren_bin):
    r = run_warren("--bogus")
    assert r.returncode == 2
    assert "unknown flag --bogus" in r.stderr


def test_bad_loglevel(warren_bin):
    r = run_warren("--loglevel", "loud", "version")
    assert r.returncode == 2
    assert "--loglevel takes debug, info, warn or error" in r.stderr


def test_global_flags_anywhere(warren_bin):
    r = run_warren("version", "--loglevel=debug", "--output", "json")
    assert r.returncode == 0
    assert r.stdout.startswith("warren ")


def test_json_logs_carry_typed_values(warren_bin, tmp_path):
    """--output json: one JSON object a line; numbers are numbers, quoted
    console values are plain strings (log collectors index them as such)."""
    p = subprocess.Popen([str(WARREN), "--output", "json", "diag", "quic", "--listen",
                          "127.0.0.1:0", "--self-signed", str(tmp_path / "ss")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = None
        for line in p.stderr:
            entry = json.loads(line)
            assert {"level", "time", "message"} <= entry.keys(), entry
            if entry["message"] == "UDP socket ready":
                ready = entry
                break
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=10)
    assert ready is not None
    assert isinstance(ready["rcvbuf"], int) and ready["rcvbuf"] > 0, ready
    assert isinstance(ready["addr"], str) and ready["addr"].startswith("127.0.0.1:"), ready


def test_port_in_use_is_said_so(warren_bin, tmp_path):
    """A taken port reads "address already in use" (it once read "already exists")."""
    tunnels = tmp_path / "tunnels.yml"
    r = run_warren("tunnel", "create", "web", "--hostname", "app.example.com", "--tunnels",
                   tunnels, "--credentials-file", tmp_path / "web.json")
    assert r.returncode == 0, r.stderr
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    addr = "127.0.0.1:%d" % taken.getsockname()[1]
    with taken:
        r = run_warren("edge", "--listen", addr, "--no-http2-listener", "--http", "127.0.0.1:0",
                       "--tunnels", tunnels, "--self-signed", tmp_path / "ss")
    assert r.returncode == 1
    assert f"warren: cannot listen for connectors on {addr} (UDP): address already in use" \
        in r.stderr, r.stderr


def test_help_of_each_command(warren_bin):
    """`warren help CMD` is `warren CMD --help`; every tunnel subcommand has its own help."""
    for cmd in ("add", "tunnel", "edge"):
        a, b = run_warren("help", cmd), run_warren(cmd, "--help")
        assert a.returncode == b.returncode == 0
        assert a.stdout == b.stdout and a.stdout.startswith("Usage: warren")
    seen = set()
    for sub in ("create", "list", "delete", "token", "ingress", "run"):
        r = run_warren("tunnel", sub, "--help")
        assert r.returncode == 0, r.stderr
        first = r.stdout.splitlines()[0]
        assert f"tunnel {sub}" in first or (sub == "run" and "run [FLAGS]" in first), first
        seen.add(r.stdout)
    assert len(seen) == 6
    r = run_warren("help", "frob")
    assert r.returncode == 2 and 'unknown command "frob"' in r.stderr
