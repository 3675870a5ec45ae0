"""--logfile: lines go to the file, which rotates by size and is reopened on
SIGUSR1 after an outside rotation (logrotate without copytruncate)."""
import os
import re
import signal
import subprocess
import time

from conftest import WARREN
from edgeenv import free_udp_port

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DBG|INF|WRN|ERR) \S")


def start_edge(tmp_path, log, *flags):
    """Starts an edge logging to log; returns it and the text of its first line
    that names this run (its QUIC address)."""
    (tmp_path / "tunnels.yml").touch()
    port = free_udp_port()
    p = subprocess.Popen(
        [str(WARREN), "--logfile", str(log), *flags, "edge", "--listen", f"127.0.0.1:{port}",
         "--http", "127.0.0.1:0", "--tunnels", str(tmp_path / "tunnels.yml"), "--self-signed",
         str(tmp_path / "certs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p, f"quic=127.0.0.1:{port}"  # in the "Starting edge" line, after the signals are set


def wait_for_text(path, text, timeout=10):
    """Waits until text is in path or in its first rotated file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in (path, path.with_name(path.name + ".1")):
            if f.exists() and text in f.read_text():
                return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never reached {path}")


def stop(p):
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    return out, err


def test_lines_go_to_the_file_and_rotate_by_size(tmp_path):
    log = tmp_path / "warren.log"
    for _ in range(4):
        p, mark = start_edge(tmp_path, log, "--log-max-size", "300", "--log-max-backups", "2")
        wait_for_text(log, mark)
        out, err = stop(p)
        assert p.returncode == 0 and out == b"" and err == b""  # nothing on the console
    names = sorted(f.name for f in tmp_path.iterdir() if f.name.startswith("warren.log"))
    assert names == ["warren.log", "warren.log.1", "warren.log.2"]
    for f in names:
        lines = (tmp_path / f).read_text().splitlines()
        assert lines and all(LINE.match(l) for l in lines), lines
    # a file rotates as soon as a line takes it past the size: at most one line over
    longest = max(len(l) + 1 for f in names for l in (tmp_path / f).read_text().splitlines())
    for f in names[1:]:
        assert os.path.getsize(tmp_path / f) < 300 + longest


def test_sigusr1_reopens_after_an_outside_rotation(tmp_path):
    log = tmp_path / "warren.log"
    env = dict(os.environ, TUNNEL_LOGFILE=str(log))  # cloudflared's variable
    p = subprocess.Popen(
        [str(WARREN), "edge", "--listen", f"127.0.0.1:{free_udp_port()}", "--http", "127.0.0.1:0",
         "--tunnels", str(tmp_path / "tunnels.yml"), "--self-signed", str(tmp_path / "certs")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    (tmp_path / "tunnels.yml").touch()
    try:
        wait_for_text(log, "Starting edge")
        log.rename(tmp_path / "warren.log.old")
        p.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
    finally:
        stop(p)
    assert p.returncode == 0
    assert "Starting edge" in (tmp_path / "warren.log.old").read_text()
    new = log.read_text()  # the shutdown lines went to a new file at the old name
    assert new and all(LINE.match(l) for l in new.splitlines())
    assert "Starting edge" not in new


def test_logfile_that_cannot_be_opened_is_a_usage_error(tmp_path):
    r = subprocess.run([str(WARREN), "--logfile", str(tmp_path / "no" / "such" / "f.log"),
                        "version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "--logfile: cannot open" in r.stderr and "No such file or directory" in r.stderr
