"""`warren service install|uninstall` (cloudflared's command) into a --root folder:
the configuration is checked and copied, secrets are 0600, the unit is the one
`make install` writes with this program's path, and it passes `systemd-analyze
verify`. systemctl is never run here (--no-start): the test machine's systemd is
not ours to change."""
import json
import os
import re
import subprocess

from conftest import ROOT, WARREN, run_warren
from edgeenv import create_tunnel


def mode(p):
    return p.stat().st_mode & 0o777


def test_tunnel_service_install_and_uninstall(tmp_path):
    tunnels, cred = create_tunnel(tmp_path, "web", "app.example.com")
    config = tmp_path / "config.yml"
    config.write_text(f"tunnel: web\ncredentials-file: {cred}\nedge:\n  - 127.0.0.1:7844\n"
                      "ingress:\n  - hostname: app.example.com\n    service: http://127.0.0.1:8080\n"
                      "  - service: http_status:404\n")
    root = tmp_path / "root"
    r = run_warren("service", "install", "--config", config, "--root", root, "--no-start")
    assert r.returncode == 0, r.stderr
    etc = root / "etc/warren"
    assert (etc / "config.yml").read_text() == config.read_text()
    assert mode(etc / "credentials.json") == 0o600
    assert json.loads((etc / "credentials.json").read_text()) == json.loads(cred.read_text())
    unit = root / "etc/systemd/system/warren-tunnel.service"
    text = unit.read_text()
    assert mode(unit) == 0o644
    assert re.search(rf"^ExecStart={re.escape(str(WARREN))} tunnel --config /etc/warren/config.yml ",
                     text, re.M), text
    assert text.replace(str(WARREN.parent), "@BINDIR@") == \
        (ROOT / "dist/systemd/warren-tunnel.service.in").read_text()
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    r = run_warren("service", "uninstall", "--root", root, "--no-stop")
    assert r.returncode == 0 and not unit.exists()
    assert (etc / "config.yml").exists()  # the configuration stays


def test_tunnel_service_with_a_token(tmp_path):
    tunnels, cred = create_tunnel(tmp_path, "web", "app.example.com")
    token = run_warren("tunnel", "token", "web", "--tunnels", tunnels).stdout.strip()
    assert token
    config = tmp_path / "config.yml"
    config.write_text("url: http://127.0.0.1:8080\nedge:\n  - 127.0.0.1:7844\n")
    root = tmp_path / "root"
    r = run_warren("service", "install", "--config", config, "--root", root, "--no-start",
                   env={**os.environ, "TUNNEL_TOKEN": token})
    assert r.returncode == 0, r.stderr
    written = json.loads((root / "etc/warren/credentials.json").read_text())
    want = json.loads(cred.read_text())
    del want["TunnelName"]  # a token carries the id and secret, not the name (cloudflared's too)
    assert written == want


def test_refusals_say_why_and_write_nothing(tmp_path):
    root = tmp_path / "root"
    bad = tmp_path / "bad.yml"
    bad.write_text("ingress:\n  - hostname: a.example.com\n    service: http://127.0.0.1:1\n")
    r = run_warren("service", "install", "--config", bad, "--root", root, "--no-start")
    assert r.returncode == 1 and "bad.yml:2:5: The last ingress rule must match all URLs" in r.stderr
    assert not root.exists()
    ok = tmp_path / "ok.yml"
    ok.write_text("url: http://127.0.0.1:1\n")
    r = run_warren("service", "install", "--config", ok, "--root", root, "--no-start",
                   env={k: v for k, v in os.environ.items() if k != "TUNNEL_TOKEN"})
    assert r.returncode == 1 and "no credentials" in r.stderr
    assert not root.exists()
    r = run_warren("service", "install", "udp", "--root", root)
    assert r.returncode == 2 and "tunnel, edge or daemon" in r.stderr


def test_edge_service_install(tmp_path):
    tunnels, _ = create_tunnel(tmp_path, "web", "app.example.com")
    edge_yml = tmp_path / "edge.yml"
    edge_yml.write_text("listen: 0.0.0.0:7844\nhttp: 0.0.0.0:80\nself-signed: /var/lib/warren/certs\n")
    root = tmp_path / "root"
    r = run_warren("service", "install", "edge", "--config", edge_yml, "--tunnels", tunnels,
                   "--root", root, "--no-start")
    assert r.returncode == 0, r.stderr
    assert mode(root / "etc/warren/tunnels.yml") == 0o600
    assert (root / "etc/warren/tunnels.yml").read_bytes() == tunnels.read_bytes()
    assert (root / "etc/warren/edge.yml").read_text() == edge_yml.read_text()
    unit = root / "etc/systemd/system/warren-edge.service"
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_daemon_service_install(tmp_path):
    root = tmp_path / "root"
    r = run_warren("service", "install", "daemon", "--root", root, "--no-start")
    assert r.returncode == 0, r.stderr
    unit = root / "etc/systemd/system/warren-daemon.service"
    assert f"ExecStart={WARREN} --repo ${{STATE_DIRECTORY}} daemon" in unit.read_text()
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
