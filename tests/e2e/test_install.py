"""`make install`: the program, warren(1) made from the --help texts, and the
systemd units, into a DESTDIR and into a PREFIX; the units pass
`systemd-analyze verify` and keep a low exposure in `systemd-analyze security`."""
import os
import re
import subprocess

from conftest import ROOT, WARREN, run_warren


def make(*args):
    res = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def commands():
    text = run_warren("--help").stdout
    block = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines()]


def test_destdir_layout_and_paths(warren_bin, tmp_path):
    dest = tmp_path / "dest"
    make("install", f"DESTDIR={dest}", "PREFIX=/usr")
    binary = dest / "usr/bin/warren"
    assert binary.stat().st_mode & 0o777 == 0o755
    assert binary.read_bytes() == WARREN.read_bytes()
    units = dest / "usr/lib/systemd/system"
    for name in ("warren-daemon.service", "warren-edge.service", "warren-tunnel.service"):
        text = (units / name).read_text()
        assert "@BINDIR@" not in text
        # The unit runs the installed program, not the DESTDIR staging copy.
        assert re.search(r"^ExecStart=/usr/bin/warren ", text, re.M), text
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr")
    assert not binary.exists() and not (units / "warren-edge.service").exists()


def test_man_page_has_every_command_and_renders_cleanly(warren_bin, tmp_path):
    dest = tmp_path / "dest"
    make("install", f"DESTDIR={dest}", "PREFIX=/usr")
    page = dest / "usr/share/man/man1/warren.1"
    roff = page.read_text()
    for c in commands():
        assert f'.SS "warren {c}"' in roff, c
    warn = subprocess.run(["groff", "-man", "-ww", "-z", str(page)], capture_output=True,
                          text=True)
    assert warn.returncode == 0 and warn.stderr == "", warn.stderr
    shown = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True,
                           env={**os.environ, "MANWIDTH": "100", "MAN_KEEP_FORMATTING": ""})
    assert shown.returncode == 0, shown.stderr
    # The same sentence as `warren edge --help`, flag for flag.
    edge_help = run_warren("edge", "--help").stdout
    flag_line = next(line for line in edge_help.splitlines() if "--listen ADDR:PORT" in line
                     and "UDP" in line)
    assert " ".join(flag_line.split()) in " ".join(shown.stdout.split())


def test_units_verify_and_are_hardened(warren_bin, tmp_path):
    prefix = tmp_path / "prefix"
    make("install", f"PREFIX={prefix}")
    units = sorted((prefix / "lib/systemd/system").glob("*.service"))
    assert [u.name for u in units] == ["warren-daemon.service", "warren-edge.service",
                                       "warren-tunnel.service"]
    env = {**os.environ, "MANPATH": str(prefix / "share/man")}
    res = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True,
                         text=True, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    for u in units:
        sec = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(u)],
                             capture_output=True, text=True, env=env)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", sec.stdout)
        assert m, sec.stdout + sec.stderr
        # systemd's scale: 0 is fully locked down, 10 is unprotected; "OK" ends at 2.
        assert float(m.group(1)) <= 2.0, sec.stdout
