"""`warren daemon` and kubo's RPC API: npm's kubo-rpc-client drives it (add, cat,
pin ls, block get/put/stat, dag export/import, ls, repo gc) and its answers are
compared with the store's own (`warren --offline ...` on the same files); curl
checks kubo's error shapes, status codes and the cross-origin refusal; the CLI
goes through the daemon and falls back to the repo when the daemon is gone."""
import base64
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from conftest import ROOT, WARREN
from daemon import Daemon

NPM = ROOT / "tests" / "npm-rpc"


def w(repo, *args, input=None, timeout=120):
    return subprocess.run([str(WARREN), "--repo", str(repo), *map(str, args)], input=input,
                          capture_output=True, timeout=timeout)


@pytest.fixture
def daemon(tmp_path):
    repo = tmp_path / "repo"
    assert w(repo, "init").returncode == 0
    d = Daemon(repo)
    yield d
    # a clean exit: SIGTERM drains and closes everything (no sanitizer report)
    assert d.stop() == 0, d.final_output


def curl(*args):
    r = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args],
                       capture_output=True, text=True, timeout=30)
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


def npm_ready():
    if not (NPM / "node_modules" / "kubo-rpc-client").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NPM, check=True,
                       capture_output=True, timeout=600)


def test_kubo_rpc_client(daemon, tmp_path):
    npm_ready()
    inputs = tmp_path / "in"
    (inputs / "tree" / "sub").mkdir(parents=True)
    one = b"hello from kubo-rpc-client\n"
    big = os.urandom(3 * 1024 * 1024 + 12345)
    (inputs / "one.txt").write_bytes(one)
    (inputs / "big.bin").write_bytes(big)
    (inputs / "tree" / "a.txt").write_bytes(b"a" * 1000)
    (inputs / "tree" / "sub" / "b.txt").write_bytes(os.urandom(300000))
    # a CAR made by another repo, for dag import
    other = tmp_path / "other"
    (tmp_path / "imp.bin").write_bytes(os.urandom(600000))
    imp_root = w(other, "--offline", "add", "-Q", tmp_path / "imp.bin").stdout.decode().strip()
    car = w(other, "--offline", "dag", "export", imp_root).stdout
    (inputs / "import.car").write_bytes(car)

    r = subprocess.run(["node", "drive.mjs", daemon.url + "/api/v0", str(inputs)], cwd=NPM,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr + daemon.output()
    got = json.loads(r.stdout)

    # CIDs: what `warren add` computes for the same bytes and options
    def offline(*args, data=None):
        res = w(daemon.repo, "--offline", "add", "-Q", "-n", *args, input=data)
        assert res.returncode == 0, res.stderr
        return res.stdout.decode().strip()

    assert got["add_v0"]["cid"] == offline(data=one)
    # kubo's Size is the DAG's cumulative size: here the one dag-pb block
    stat = w(daemon.repo, "--offline", "block", "stat", got["add_v0"]["cid"]).stdout.decode()
    assert f"Size: {got['add_v0']['size']}\n" in stat and got["add_v0"]["size"] > len(one)
    assert got["add_v1"]["cid"] == offline("--cid-version=1", data=one)
    assert got["add_big"]["cid"] == offline("--raw-leaves", "--chunker=size-65536", data=big)
    tree = {e["path"]: e["cid"] for e in got["added_tree"]}
    assert tree["tree"] == offline("-r", inputs / "tree")
    assert tree["tree/sub/b.txt"] == offline(inputs / "tree" / "sub" / "b.txt")
    assert "" in tree  # the wrapping folder, named "" as kubo names it

    # bytes
    assert base64.b64decode(got["cat_one"]) == one
    assert got["cat_big_sha"] == hashlib.sha256(big).hexdigest()
    assert base64.b64decode(got["cat_range"]) == big[70000:71000]
    assert base64.b64decode(got["block_get"]) == one  # a one-chunk CIDv1 file is its raw leaf
    assert got["block_stat"] == {"cid": got["add_v1"]["cid"], "size": len(one)}
    put_cid = got["block_put"]
    assert put_cid.startswith("bafkrei")
    # (gc removed it since: the same bytes put into another repo give the same CID)
    assert w(other, "--offline", "block", "put", input=b"a raw block from kubo-rpc-client"
             ).stdout.decode().strip() == put_cid
    car_got = base64.b64decode(got["dag_export"])
    car_direct = w(daemon.repo, "--offline", "dag", "export", got["add_big"]["cid"]).stdout
    assert car_got == car_direct and len(car_got) > len(big)

    # pins as the store lists them
    direct = w(daemon.repo, "--offline", "pin", "ls", "--type=recursive").stdout.decode()
    recursive = {l.split()[0] for l in direct.splitlines()}
    assert {p["cid"] for p in got["pins"] if p["type"] == "recursive"} >= \
        {got["add_v0"]["cid"], got["add_v1"]["cid"], got["add_big"]["cid"], tree[""]}
    assert got["add_v0"]["cid"] not in got["pins_after_rm"]
    assert got["pin_add"] == got["add_v0"]["cid"]
    assert got["add_v0"]["cid"] in recursive

    # get: a tar of the folder, entry by entry the files uploaded
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(got["get_tar"]))) as t:
        names = sorted(m.name for m in t.getmembers())
        assert names == ["tree", "tree/a.txt", "tree/sub", "tree/sub/b.txt"]
        assert t.extractfile("tree/sub/b.txt").read() == (inputs / "tree" / "sub" / "b.txt").read_bytes()
        assert t.extractfile("tree/a.txt").read() == b"a" * 1000

    # ls of the wrapper; dag import pinned the CAR's root
    assert got["ls"] == [{"name": "tree", "type": "dir", "cid": tree["tree"], "size": 0}]
    assert got["dag_import"] == [{"cid": imp_root, "err": ""}]
    assert imp_root in recursive
    assert w(daemon.repo, "--offline", "cat", imp_root).stdout == (tmp_path / "imp.bin").read_bytes()
    # gc freed the unpinned block put above, and nothing a pin needs
    assert put_cid in got["gc"]
    assert w(daemon.repo, "--offline", "cat", got["add_big"]["cid"]).stdout == big

    assert "was not found on the network in time" in got["cat_missing"]
    # the node's peer ID, the same as the repo's key gives offline
    assert got["id"]["ok"] is True
    assert got["id"]["id"] == json.loads(w(daemon.repo, "--offline", "id").stdout)["ID"]


def test_error_shapes_and_origins(daemon):
    base = daemon.url + "/api/v0"
    code, body = curl(base + "/version")  # GET
    assert (code, body) == (405, "405 - Method Not Allowed")
    code, body = curl("-X", "POST", base + "/no/such/command")
    assert (code, body) == (404, "404 page not found")
    code, body = curl("-X", "POST", base + "/cat")
    assert code == 400
    assert json.loads(body) == {"Message": 'argument "ipfs-path" is required', "Code": 1,
                                "Type": "error"}
    code, body = curl("-X", "POST", base + "/block/get?arg=notacid")
    assert code == 500
    e = json.loads(body)
    assert e["Code"] == 0 and e["Type"] == "error" and "invalid CID" in e["Message"]
    # add: a refused path and an empty upload answer kubo's error object, not a cut stream
    code, body = curl("-X", "POST", "-F", "file=@/etc/hostname;filename=../x", base + "/add")
    assert code == 500 and json.loads(body)["Message"].startswith('the path "../x"')
    code, body = curl("-X", "POST", "-H", "Content-Type: multipart/form-data; boundary=x",
                      "--data-binary", "--x--\r\n", base + "/add")
    assert code == 400 and json.loads(body)["Message"] == 'argument "path" is required'
    code, body = curl("-X", "POST", "-H", "Content-Type: text/plain", "--data-binary", "x",
                      base + "/add")
    assert code == 400 and json.loads(body)["Message"] == "the request body is not multipart/form-data"
    code, body = curl("-X", "POST", base + "/pin/ls?type=sideways")
    assert code == 400 and json.loads(body)["Code"] == 1
    # browsers: only the API's own origins (kubo's defaults)
    code, body = curl("-X", "POST", "-H", "Origin: http://evil.example", base + "/version")
    assert (code, body) == (403, "403 - Forbidden")
    code, _ = curl("-X", "POST", "-H", "Referer: http://evil.example/page", base + "/version")
    assert code == 403
    for origin in (f"http://127.0.0.1:{daemon.port}", f"http://localhost:{daemon.port}"):
        code, body = curl("-X", "POST", "-H", f"Origin: {origin}", base + "/version")
        assert code == 200 and json.loads(body)["Version"]
    code, _ = curl("-X", "POST", "-H", "Origin: http://127.0.0.1:1", base + "/version")
    assert code == 403
    code, body = curl("-X", "POST", base + "/id")
    assert code == 200
    me = json.loads(body)
    assert me["ID"].startswith("12D3KooW") and me["PublicKey"].startswith("CAESI")
    assert me["Addresses"][0].endswith("/p2p/" + me["ID"])
    assert me["AgentVersion"] == "warren/0.1.0" and "/ipfs/ping/1.0.0" in me["Protocols"]
    assert "API blocked a cross-origin request" in daemon.output()


def test_allowed_origin_flag(tmp_path):
    repo = tmp_path / "repo"
    d = Daemon(repo, "--api-allow-origin", "https://app.example")
    try:
        base = d.url + "/api/v0/version"
        assert curl("-X", "POST", "-H", "Origin: https://app.example", base)[0] == 200
        assert curl("-X", "POST", "-H", f"Origin: http://127.0.0.1:{d.port}", base)[0] == 403
    finally:
        d.stop()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_repo_config_sets_api_and_origins(tmp_path):
    """kubo's config file in the repo: Addresses.API and the allowed origins."""
    repo = tmp_path / "repo"
    assert w(repo, "init").returncode == 0
    port = free_port()
    (repo / "config").write_text(json.dumps({
        "Addresses": {"API": f"/ip4/127.0.0.1/tcp/{port}", "Swarm": []},
        "API": {"HTTPHeaders": {"Access-Control-Allow-Origin": ["https://webui.example"]}}}))
    d = Daemon(repo, api=None)
    try:
        assert d.port == port
        base = d.url + "/api/v0/version"
        assert curl("-X", "POST", "-H", "Origin: https://webui.example", base)[0] == 200
        assert curl("-X", "POST", "-H", f"Origin: http://127.0.0.1:{port}", base)[0] == 403
        assert "beyond loopback" not in d.output()
    finally:
        assert d.stop() == 0, d.final_output
    (repo / "config").write_text("{not json")
    r = w(repo, "daemon", timeout=10)
    assert r.returncode == 1 and b"is not valid JSON" in r.stderr
    assert not (repo / "api").exists()


def test_cli_through_daemon(daemon, tmp_path):
    tree = tmp_path / "site"
    (tree / "css").mkdir(parents=True)
    (tree / "index.html").write_bytes(b"<h1>hi</h1>\n")
    (tree / "css" / "s.css").write_bytes(os.urandom(700000))
    (tree / ".hidden").write_bytes(b"x")
    os.symlink("css/s.css", tree / "style")  # stored as a UnixFS symlink, never followed
    via = w(daemon.repo, "add", "-r", "--cid-version=1", tree)
    direct = w(daemon.repo, "--offline", "add", "-n", "-r", "--cid-version=1", tree)
    assert via.returncode == 0, via.stderr
    # the same lines; through the daemon folders come after every file (kubo's
    # order: a folder is built once the upload has ended)
    assert sorted(via.stdout.splitlines()) == sorted(direct.stdout.splitlines())
    assert via.stdout.count(b"\n") == 5 and via.stdout.splitlines()[-1].endswith(b" site")
    root = via.stdout.decode().splitlines()[-1].split()[1]
    # the daemon served it: its log shows no error, and the file's bytes come back
    assert w(daemon.repo, "cat", f"{root}/css/s.css").stdout == (tree / "css" / "s.css").read_bytes()
    assert w(daemon.repo, "cat", "--offset=4", "--length=5", f"{root}/index.html").stdout == b"hi</h"
    stdin = w(daemon.repo, "add", input=b"piped\n").stdout.decode().split()
    assert stdin[0] == "added" and stdin[1] == stdin[2]
    assert w(daemon.repo, "pin", "ls").stdout == w(daemon.repo, "--offline", "pin", "ls").stdout
    assert f"{root} recursive" in w(daemon.repo, "pin", "ls", "--type=recursive").stdout.decode()
    # errors come back as one sentence
    r = w(daemon.repo, "--timeout", "1s", "cat",
          "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
    assert r.returncode == 1 and r.stderr.decode().startswith("warren: cat: ")
    assert b"was not found on the network in time" in r.stderr
    r = w(daemon.repo, "add", tree)  # a folder without -r
    assert r.returncode == 1 and b"use -r" in r.stderr
    # ls through the daemon prints what the direct path prints: a folder (with a
    # subfolder and a symlink), a file's chunks, several arguments
    for args in ([root], [f"{root}/css/s.css"], [root, f"{root}/css"], ["--size=false", root]):
        via_ls = w(daemon.repo, "ls", *args)
        assert via_ls.returncode == 0, via_ls.stderr
        assert via_ls.stdout == w(daemon.repo, "--offline", "ls", *args).stdout
    assert [b"-", b"css/"] in [l.split()[1:] for l in w(daemon.repo, "ls", root).stdout.splitlines()]
    r = w(daemon.repo, "ls", f"{root}/nope")
    assert r.returncode == 1 and r.stderr.startswith(b"warren: ls: ")
    # pin rm/add, block get and dag export through the daemon, as direct
    css = via.stdout.decode().splitlines()[0].split()[1]
    assert w(daemon.repo, "pin", "add", css).stdout.decode() == f"pinned {css} recursively\n"
    assert w(daemon.repo, "pin", "rm", css).stdout.decode() == f"unpinned {css}\n"
    r = w(daemon.repo, "pin", "rm", css)
    assert r.returncode == 1 and b"is not pinned" in r.stderr
    for cmd in (["block", "get", css], ["dag", "export", root]):
        via_d = w(daemon.repo, *cmd)
        assert via_d.returncode == 0 and via_d.stdout == w(daemon.repo, "--offline", *cmd).stdout
    # block put/stat and dag import through the daemon, as direct
    put = w(daemon.repo, "block", "put", "--pin", input=b"a block via the daemon")
    assert put.returncode == 0 and put.stdout == w(
        tmp_path / "other", "--offline", "block", "put", input=b"a block via the daemon").stdout
    bcid = put.stdout.decode().strip()
    assert w(daemon.repo, "block", "stat", bcid).stdout == \
        w(daemon.repo, "--offline", "block", "stat", bcid).stdout
    car = tmp_path / "x.car"
    (tmp_path / "x.bin").write_bytes(os.urandom(400000))
    xroot = w(tmp_path / "other", "--offline", "add", "-Q", tmp_path / "x.bin").stdout.decode().strip()
    car.write_bytes(w(tmp_path / "other", "--offline", "dag", "export", xroot).stdout)
    imp = w(daemon.repo, "dag", "import", "--stats", car)
    assert imp.returncode == 0, imp.stderr
    assert imp.stdout == w(tmp_path / "third", "--offline", "dag", "import", "--stats", car).stdout
    assert imp.stdout.decode().startswith(f"Pinned root\t{xroot}\tsuccess\nImported 3 blocks (")
    assert w(daemon.repo, "cat", xroot).stdout == (tmp_path / "x.bin").read_bytes()
    w(daemon.repo, "pin", "rm", bcid, xroot)
    # the daemon holds the repo: a direct gc is refused while it runs ...
    r = w(daemon.repo, "--offline", "gc")
    assert r.returncode != 0 and b"another warren process" in r.stderr
    # ... and `warren gc` asks the daemon: the unpinned stdin file, block and CAR's DAG
    # (1 + 1 + 3 blocks) go, the site stays
    w(daemon.repo, "pin", "rm", stdin[1])
    r = w(daemon.repo, "gc")
    assert r.returncode == 0, r.stderr
    assert f"removed " in r.stdout.decode() and r.stdout.decode().endswith("gc: removed 5 blocks\n")
    assert w(daemon.repo, "cat", f"{root}/index.html").stdout == b"<h1>hi</h1>\n"
    code, body = curl("-X", "POST", daemon.url + "/api/v0/repo/gc")
    assert (code, body) == (200, "")


def test_sigterm_removes_api_file_and_stale_file_falls_back(tmp_path):
    repo = tmp_path / "repo"
    d = Daemon(repo)
    (tmp_path / "f").write_bytes(b"content\n")
    cid = w(repo, "add", "-Q", tmp_path / "f").stdout.decode().strip()
    assert d.stop() == 0
    assert not (repo / "api").exists()
    assert "Daemon stopped" in d.final_output
    # no daemon: the CLI works on the repo
    assert w(repo, "cat", cid).stdout == b"content\n"
    # killed with -9, the api file stays behind: the CLI sees nothing listens and goes direct
    d = Daemon(repo)
    port = d.port
    d.stop(signal.SIGKILL)
    assert (repo / "api").exists()
    r = w(repo, "cat", cid)
    assert r.returncode == 0 and r.stdout == b"content\n", r.stderr
    # and a new daemon takes over the file
    d = Daemon(repo)
    try:
        assert (repo / "api").read_text() == f"/ip4/127.0.0.1/tcp/{d.port}"
        assert w(repo, "cat", cid).stdout == b"content\n"
    finally:
        d.stop()
    del port


def test_interrupted_upload_keeps_serving(daemon, tmp_path):
    """A client that vanishes mid-upload costs nothing: no pin, and the next add works."""
    import socket
    s = socket.create_connection(("127.0.0.1", daemon.port))
    b = "XyZ"
    s.sendall((f"POST /api/v0/add HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
               f"boundary={b}\r\nContent-Length: 10000000\r\n\r\n--{b}\r\nContent-Disposition: "
               f"form-data; name=\"file\"; filename=\"f\"\r\n\r\n").encode() + os.urandom(500000))
    time.sleep(0.3)
    s.close()
    (tmp_path / "g").write_bytes(b"after\n")
    r = w(daemon.repo, "add", "-Q", tmp_path / "g")
    assert r.returncode == 0, r.stderr
    pins = w(daemon.repo, "pin", "ls", "--type=recursive").stdout.decode().split()
    assert pins == [r.stdout.decode().strip(), "recursive"]
