"""`warren init` makes the node's libp2p key (mode 0600, libp2p's PrivateKey
protobuf); `warren id` prints kubo's JSON; js-libp2p derives the same peer ID
from both the key file and the printed public key; diag p2p runs with it."""
import json
import subprocess

from conftest import run_warren
from p2pdiag import NODE, NPM_P2P


def test_init_id_and_js_agree(warren_bin, tmp_path):
    repo = tmp_path / "repo"
    r = run_warren("--repo", repo, "init")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1] == "generated an ED25519 keypair"
    pid = lines[2].split("peer identity: ")[1]
    key = repo / "identity.key"
    assert (key.stat().st_mode & 0o777) == 0o600
    # A second init keeps the key.
    r = run_warren("--repo", repo, "init")
    assert r.stdout.splitlines()[-1] == f"peer identity: {pid}"
    r = run_warren("--repo", repo, "id")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('{\n\t"ID": ')  # kubo's tab-indented JSON
    doc = json.loads(r.stdout)
    assert list(doc) == ["ID", "PublicKey", "Addresses", "AgentVersion", "Protocols"]
    assert doc["ID"] == pid and doc["AgentVersion"] == "warren/0.1.0"
    assert doc["Addresses"] is None and doc["Protocols"] is None
    js = subprocess.run([str(NODE), "keycheck.mjs", str(key), doc["PublicKey"]], cwd=NPM_P2P,
                        capture_output=True, text=True, timeout=60)
    assert js.returncode == 0, js.stderr
    got = json.loads(js.stdout)
    assert got == {"fromPrivateKey": pid, "fromPublicKey": pid, "type": "Ed25519"}
    # The host runs with the repo's key.
    r = run_warren("diag", "p2p", "--key", key, "--listen", "/ip4/127.0.0.1/tcp/0", "--dial",
                   "/ip4/127.0.0.1/tcp/1", "--timeout", "1000")
    assert r.stdout.splitlines()[0] == f"id {pid}"


def test_key_file_refused_when_readable_or_broken(warren_bin, tmp_path):
    repo = tmp_path / "repo"
    assert run_warren("--repo", repo, "init").returncode == 0
    key = repo / "identity.key"
    key.chmod(0o644)
    r = run_warren("--repo", repo, "id")
    assert r.returncode == 1 and "is readable by others (mode 644); chmod 600 it" in r.stderr
    key.chmod(0o600)
    key.write_bytes(b"\x08\x01\x12\x20" + bytes(32))
    r = run_warren("--repo", repo, "id")
    assert r.returncode == 1
    assert "is not a libp2p Ed25519 private key: Ed25519 private key Data is not 64 bytes" in r.stderr
