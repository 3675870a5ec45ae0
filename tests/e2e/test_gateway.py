"""The edge as an IPFS HTTP gateway (src/gateway): a repo filled with `warren
add`, read back with curl through `warren edge --gateway/--subdomain-gateway/
--content`: files with types, HEAD, ranges, Etag/304, folders (index.html,
redirect, listing), raw blocks checked against their CIDs, CAR responses read
and verified by npm's @ipld/car and compared with `warren dag export`, scopes,
entity-bytes and dups, subdomains, errors, metrics, and a 100,000-entry HAMT
folder listed within a time and memory bound."""
import hashlib
import os
import random
import subprocess
import threading
import time

import pytest

from conftest import WARREN
from edgeenv import Edge, create_tunnel
from gwenv import add, car_verify, check_block, get, metric, rss_anon_kb

GW, SUB, WWW = "gw.test", "sub.test", "www.test"


def make_site(d):
    (d / "sub").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>home</title><p>home page</p>\n")
    (d / "sub" / "a.txt").write_text("hello from a.txt\n")
    (d / "sub" / "noext").write_text("plain words, no extension\n")
    (d / "sub" / "pic.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>\n')
    (d / "sub" / "name with spaces & <tags>.txt").write_text("odd name\n")
    (d / "sub" / "café ü.txt").write_text("utf-8 name\n")
    rnd = random.Random(7)
    (d / "sub" / "big.bin").write_bytes(rnd.randbytes(3_000_000))
    (d / "zeros.bin").write_bytes(bytes(1_048_576))  # four identical leaves: dups


class Env:
    def __init__(self, tmp):
        self.tmp = tmp
        self.repo = tmp / "repo"
        self.site = tmp / "site"
        make_site(self.site)
        self.cids = add(self.repo, self.site)
        self.v1 = add(self.repo, self.site, "--cid-version=1")
        self.root = self.cids[""]
        tunnels, _ = create_tunnel(tmp, "other", "other.example.com")
        self.edge = Edge(tmp, tunnels, "--repo", self.repo, "--gateway", GW,
                         "--subdomain-gateway", SUB, "--content", f"{WWW}=/ipfs/{self.root}")

    def close(self):
        self.edge.stop()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = Env(tmp_path_factory.mktemp("gw"))
    yield e
    e.close()


def test_file_headers_and_types(env):
    r = env.root
    st, h, body = get(env.edge, GW, f"/ipfs/{r}/sub/a.txt")
    assert st == 200 and body == (env.site / "sub" / "a.txt").read_bytes()
    assert h["content-type"] == "text/plain; charset=utf-8"
    assert h["etag"] == f'"{env.cids["sub/a.txt"]}"'
    assert h["cache-control"] == "public, max-age=29030400, immutable"
    assert h["x-ipfs-path"] == f"/ipfs/{r}/sub/a.txt"
    assert h["x-ipfs-roots"] == ",".join([r, env.cids["sub"], env.cids["sub/a.txt"]])
    assert h["content-length"] == str(len(body))
    # sniffed (no extension), by extension, and ?filename=
    assert get(env.edge, GW, f"/ipfs/{r}/sub/noext")[1]["content-type"].startswith("text/plain")
    assert get(env.edge, GW, f"/ipfs/{r}/sub/pic.svg")[1]["content-type"] == "image/svg+xml"
    st, h, _ = get(env.edge, GW, f"/ipfs/{env.cids['sub/big.bin']}?filename=x.pdf&download=true")
    assert h["content-type"] == "application/pdf"
    assert h["content-disposition"] == 'attachment; filename="x.pdf"'
    st, h, body = get(env.edge, GW, f"/ipfs/{r}/sub/name%20with%20spaces%20%26%20%3Ctags%3E.txt")
    assert st == 200 and body == b"odd name\n"
    st, h, body = get(env.edge, GW, f"/ipfs/{r}/sub/caf%C3%A9%20%C3%BC.txt")
    assert st == 200 and body == b"utf-8 name\n"
    assert h["x-ipfs-path"] == f"/ipfs/{r}/sub/caf%C3%A9%20%C3%BC.txt"


def test_big_file_and_head(env):
    want = (env.site / "sub" / "big.bin").read_bytes()
    st, h, body = get(env.edge, GW, f"/ipfs/{env.root}/sub/big.bin")
    assert st == 200 and hashlib.sha256(body).digest() == hashlib.sha256(want).digest()
    assert h["content-type"] == "application/octet-stream"
    st, h, body = get(env.edge, GW, f"/ipfs/{env.root}/sub/big.bin", "-I")
    assert st == 200 and h["content-length"] == str(len(want)) and body == b""


@pytest.mark.parametrize("rng", ["0-0", "1000-299999", "262143-262145", "2999990-",
                                 "-500", "0-99999999"])
def test_range(env, rng):
    want = (env.site / "sub" / "big.bin").read_bytes()
    st, h, body = get(env.edge, GW, f"/ipfs/{env.cids['sub/big.bin']}", "-H",
                      f"Range: bytes={rng}")
    a, _, b = rng.partition("-")
    if a == "":
        first, last = len(want) - int(b), len(want) - 1
    else:
        first, last = int(a), min(int(b) if b else len(want) - 1, len(want) - 1)
    assert st == 206
    assert h["content-range"] == f"bytes {first}-{last}/{len(want)}"
    assert body == want[first:last + 1]


def test_range_refused_and_multi(env):
    cid = env.cids["sub/big.bin"]
    st, h, body = get(env.edge, GW, f"/ipfs/{cid}", "-H", "Range: bytes=3000000-")
    assert st == 416 and h["content-range"] == "bytes */3000000"
    st, h, body = get(env.edge, GW, f"/ipfs/{cid}", "-H", "Range: bytes=10-20,0-1")
    want = (env.site / "sub" / "big.bin").read_bytes()
    assert st == 206 and body == want[10:21]  # several ranges: the first one
    assert h["content-range"] == "bytes 10-20/3000000"


def test_etag_304(env):
    path = f"/ipfs/{env.root}/sub/a.txt"
    etag = get(env.edge, GW, path)[1]["etag"]
    for inm in (etag, "W/" + etag, f'"other", {etag}', "*"):
        st, h, body = get(env.edge, GW, path, "-H", f"If-None-Match: {inm}")
        assert st == 304 and body == b"" and h["etag"] == etag
    assert get(env.edge, GW, path, "-H", 'If-None-Match: "other"')[0] == 200


def test_directories(env):
    r = env.root
    st, h, _ = get(env.edge, GW, f"/ipfs/{r}/sub?x=1")
    assert st == 301 and h["location"] == f"/ipfs/{r}/sub/?x=1"
    st, h, body = get(env.edge, GW, f"/ipfs/{r}/sub/")
    assert st == 200 and h["content-type"] == "text/html; charset=utf-8"
    assert h["etag"].startswith('"DirIndex-') and env.cids["sub"] in h["etag"]
    html = body.decode()
    for name in ("a.txt", "noext", "pic.svg", "big.bin"):
        assert f'href="{name}"' in html and env.cids[f"sub/{name}"] in html
    assert 'href="name%20with%20spaces%20%26%20%3Ctags%3E.txt"' in html
    assert "name with spaces &amp; &lt;tags&gt;.txt" in html
    assert 'href="../"' in html
    assert 'href="caf%C3%A9%20%C3%BC.txt"' in html and "café ü.txt" in html
    st, h, body = get(env.edge, GW, f"/ipfs/{r}/")
    assert st == 200 and body == (env.site / "index.html").read_bytes()
    assert h["content-type"] == "text/html; charset=utf-8"


def test_raw_blocks(env):
    for rel in ("", "sub", "sub/a.txt", "sub/big.bin"):
        cid = env.cids[rel]
        st, h, body = get(env.edge, GW, f"/ipfs/{cid}?format=raw")
        assert st == 200 and h["content-type"] == "application/vnd.ipld.raw"
        assert h["content-disposition"] == f'attachment; filename="{cid}.bin"'
        assert h["x-content-type-options"] == "nosniff" and h["etag"] == f'"{cid}.raw"'
        check_block(cid, body)
        v1 = env.v1[rel]
        st, h, body = get(env.edge, GW, f"/ipfs/{v1}", "-H", "Accept: application/vnd.ipld.raw")
        assert st == 200 and h["content-location"] == f"/ipfs/{v1}?format=raw"
        check_block(v1, body)
    # the trustless probe: the empty identity CID
    st, h, body = get(env.edge, GW, "/ipfs/bafkqaaa?format=raw")
    assert st == 200 and body == b""


def dag_export(env, cid):
    r = subprocess.run([str(WARREN), "--repo", str(env.repo), "dag", "export", cid],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return car_verify(r.stdout)


def test_car_all_matches_dag_export(env):
    for rel in ("", "sub/big.bin"):
        cid = env.cids[rel]
        st, h, body = get(env.edge, GW, f"/ipfs/{cid}?format=car")
        assert st == 200
        assert h["content-type"] == "application/vnd.ipld.car; version=1; order=dfs; dups=n"
        assert h["content-disposition"] == f'attachment; filename="{cid}.car"'
        car = car_verify(body)
        assert car["version"] == 1 and car["roots"] == [cid]
        ref = dag_export(env, cid)
        assert [b["cid"] for b in car["blocks"]] == [b["cid"] for b in ref["blocks"]]
    st, h, body = get(env.edge, GW, f"/ipfs/{env.root}", "-H",
                      "Accept: application/vnd.ipld.car; version=1; order=dfs; dups=y")
    assert st == 200 and h["content-type"].endswith("dups=y")
    assert h["content-location"] == f"/ipfs/{env.root}?format=car"


def test_car_scopes_and_path_blocks(env):
    r = env.root
    # block: the blocks on the path, then the terminal block alone
    st, _, body = get(env.edge, GW, f"/ipfs/{r}/sub/big.bin?format=car&dag-scope=block")
    got = [b["cid"] for b in car_verify(body)["blocks"]]
    assert got == [r, env.cids["sub"], env.cids["sub/big.bin"]]
    # entity on a folder: the folder's block, not its children
    st, _, body = get(env.edge, GW, f"/ipfs/{r}/sub?format=car&dag-scope=entity")
    assert [b["cid"] for b in car_verify(body)["blocks"]] == [r, env.cids["sub"]]
    # entity on a file: the whole file
    big = env.cids["sub/big.bin"]
    whole = car_verify(get(env.edge, GW, f"/ipfs/{big}?format=car&dag-scope=entity")[2])
    allb = car_verify(get(env.edge, GW, f"/ipfs/{big}?format=car")[2])
    assert [b["cid"] for b in whole["blocks"]] == [b["cid"] for b in allb["blocks"]]
    nleaves = len(whole["blocks"]) - 1
    assert nleaves == 12  # 3,000,000 bytes in 256 KiB chunks
    # entity-bytes: only the leaves holding the range (leaf i holds [i*262144, ...))
    for rng, leaves, span in (("0:1000", [0], "0-1000"), ("262143:262144", [0, 1], "262143-262144"),
                              ("-10:*", [11], "2999990-2999999"),
                              ("524288:786431", [2], "524288-786431")):
        st, h, body = get(env.edge, GW, f"/ipfs/{big}?format=car&entity-bytes={rng}")
        got = [b["cid"] for b in car_verify(body)["blocks"]]
        want = [whole["blocks"][0]["cid"]] + [whole["blocks"][1 + i]["cid"] for i in leaves]
        assert got == want, rng
        assert h["etag"].endswith(f".{span}\"")
    # outside the file: the root block only
    body = get(env.edge, GW, f"/ipfs/{big}?format=car&entity-bytes=5000000:*")[2]
    assert [b["cid"] for b in car_verify(body)["blocks"]] == [big]


def test_car_dups(env):
    z = env.cids["zeros.bin"]
    n = car_verify(get(env.edge, GW, f"/ipfs/{z}?format=car&car-dups=n")[2])["blocks"]
    y = car_verify(get(env.edge, GW, f"/ipfs/{z}?format=car&car-dups=y")[2])["blocks"]
    assert len(n) == 2 and len(y) == 5  # root + 4 identical leaves
    assert len({b["cid"] for b in y}) == 2


def cid_bytes(b32):
    import base64
    s = b32[1:].upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def base36(raw):
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, d = divmod(n, 36)
        out = "0123456789abcdefghijklmnopqrstuvwxyz"[d] + out
    return out


def test_subdomain_gateway(env):
    r, v1 = env.root, env.v1[""]
    h, p = env.edge.http
    # the path form on the subdomain gateway's own name moves to base32 CIDv1
    st, hd, _ = get(env.edge, f"{SUB}:{p}", f"/ipfs/{r}/sub/a.txt?q=1")
    from gwenv import cid_digest
    assert st == 301
    loc = hd["location"]
    label = loc.split("//")[1].split(".")[0]
    assert loc == f"http://{label}.ipfs.{SUB}:{p}/sub/a.txt?q=1"
    assert label.startswith("bafy") and cid_digest(label) == cid_digest(r)
    st, hd, body = get(env.edge, f"{label}.ipfs.{SUB}:{p}", "/sub/a.txt?q=1")
    assert st == 200 and body == b"hello from a.txt\n"
    assert hd["x-ipfs-path"] == f"/ipfs/{label}/sub/a.txt"
    # the folder's index.html at the origin's root
    st, _, body = get(env.edge, f"{label}.ipfs.{SUB}", "/")
    assert st == 200 and body == (env.site / "index.html").read_bytes()
    # X-Forwarded-Proto: https makes the redirect https
    st, hd, _ = get(env.edge, SUB, f"/ipfs/{r}", "-H", "X-Forwarded-Proto: https")
    assert st == 301 and hd["location"].startswith("https://")
    # a label that is a CID but not canonical base32 (base36 here) is redirected
    b36 = "k" + base36(cid_bytes(label))
    st, hd, _ = get(env.edge, f"{b36}.ipfs.{SUB}", "/x")
    assert st == 301 and hd["location"] == f"http://{label}.ipfs.{SUB}/x"
    # a label longer than DNS allows
    st, _, body = get(env.edge, f"{'b' + 'a' * 70}.ipfs.{SUB}", "/")
    assert st == 400 and b"63" in body
    # not a CID
    assert get(env.edge, f"notacid.ipfs.{SUB}", "/")[0] == 400


def test_content_site(env):
    st, h, body = get(env.edge, WWW, "/")
    assert st == 200 and body == (env.site / "index.html").read_bytes()
    assert "immutable" not in h.get("cache-control", "")  # a name, not a CID
    assert h["x-ipfs-path"] == f"/ipfs/{env.root}/"
    st, _, body = get(env.edge, WWW, "/sub/a.txt")
    assert st == 200 and body == b"hello from a.txt\n"
    assert get(env.edge, WWW, "/nothing-here")[0] == 404


def test_errors(env):
    st, _, body = get(env.edge, GW, "/ipfs/notacid")
    assert st == 400 and b"not a valid CID" in body
    missing = "bafkreiaxnnnb7qz2focittuqq3ya25q7rcv3bqynnczfzako47346wosmu"
    st, _, body = get(env.edge, GW, f"/ipfs/{missing}")
    assert st == 404 and b"not in the store" in body
    assert get(env.edge, GW, f"/ipfs/{missing}?format=car")[0] == 404
    assert get(env.edge, GW, f"/ipfs/{missing}?format=raw")[0] == 404
    st, _, _ = get(env.edge, GW, f"/ipfs/{missing}", "-H", "Cache-Control: only-if-cached")
    assert st == 412
    st, _, body = get(env.edge, GW, f"/ipfs/{env.root}/sub/nope.txt")
    assert st == 404 and b"nope.txt" in body
    assert get(env.edge, GW, f"/ipfs/{env.root}", "-X", "POST")[0] == 405
    # a key no record is kept for (names: tests/e2e/test_gateway_names.py)
    assert get(env.edge, GW,
               "/ipns/k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w")[0] == 404
    assert get(env.edge, GW, f"/ipfs/{env.root}?format=bogus")[0] == 400
    assert get(env.edge, GW, f"/ipfs/{env.root}?format=dag-json")[0] == 406
    assert get(env.edge, GW, f"/ipfs/{env.root}?format=car&car-version=2")[0] == 400
    assert get(env.edge, GW, f"/ipfs/{env.root}/sub/a.txt", "-H",
               "Service-Worker: script")[0] == 200
    assert get(env.edge, GW, f"/ipfs/{env.root}", "-H", "Service-Worker: script")[0] == 400
    assert get(env.edge, "unknown.test", "/ipfs/" + env.root)[0] == 404


def test_metrics(env):
    before = metric(env.edge, 'warren_gateway_response_body_bytes_total')
    get(env.edge, GW, f"/ipfs/{env.root}/sub/big.bin")
    after = metric(env.edge, 'warren_gateway_response_body_bytes_total')
    assert after - before >= 3_000_000
    assert metric(env.edge, 'warren_gateway_responses_total{code="200"}') > 0
    assert metric(env.edge, 'warren_gateway_responses_total{code="404"}') > 0
    assert metric(env.edge, 'warren_gateway_requests_total{kind="car"}') > 0


def test_hamt_folder_100k(tmp_path):
    """A 100,000-entry folder (HAMT-sharded by `warren add`, as kubo does) is
    listed whole, streamed, within a time and memory bound."""
    d = tmp_path / "big"
    d.mkdir()
    for i in range(100_000):
        (d / f"entry-{i:06d}.txt").write_text(str(i))
    repo = tmp_path / "repo"
    cids = add(repo, d)
    root = cids[""]
    tunnels, _ = create_tunnel(tmp_path, "other", "other.example.com")
    edge = Edge(tmp_path, tunnels, "--repo", repo, "--gateway", GW)
    try:
        # Anonymous memory, sampled while the page streams (the LMDB map is
        # file-backed page cache and shows in VmRSS, not here).
        peak = [rss_anon_kb(edge.proc.pid)]
        rss0 = peak[0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak.append(rss_anon_kb(edge.proc.pid))
                time.sleep(0.005)
        th = threading.Thread(target=sample)
        th.start()
        t0 = time.monotonic()
        try:
            st, h, body = get(edge, GW, f"/ipfs/{root}/", timeout=120)
        finally:
            took = time.monotonic() - t0
            done.set()
            th.join()
        rss = max(peak)
        assert st == 200 and h["transfer-encoding"] == "chunked"
        assert body.count(b"<tr><td><a href=") == 100_000
        assert b"entry-054321.txt" in body and b"100000 entries" in body
        print(f"listing 100000 entries: {took:.2f} s, {len(body)} bytes, edge anonymous "
              f"memory {rss0} -> peak {rss} kB ({len(peak)} samples)")
        assert took < 20
        assert rss - rss0 < 8 * 1024, (rss0, rss)  # the 14 MB page is never held
        # it is a HAMT: its entity CAR holds shard nodes only, no file
        body = get(edge, GW, f"/ipfs/{root}?format=car&dag-scope=entity", timeout=120)[2]
        blocks = car_verify(body)["blocks"]
        assert len(blocks) > 1 and cids["entry-000001.txt"] not in {b["cid"] for b in blocks}
        st, _, body = get(edge, GW, f"/ipfs/{root}/entry-099999.txt")
        assert st == 200 and body == b"99999"
    finally:
        edge.stop()


def test_config_file_and_help(tmp_path, env):
    r = subprocess.run([str(WARREN), "edge", "--help"], capture_output=True, text=True)
    for flag in ("--gateway HOST", "--subdomain-gateway HOST", "--content HOST=/ipfs/CID",
                 "--repo DIR"):
        assert flag in r.stdout
    conf = tmp_path / "edge.yml"
    conf.write_text(f"repo: {env.repo}\ngateway: [{GW}]\ncontent:\n  {WWW}: /ipfs/{env.root}\n")
    # without a tunnels file at all: the edge serves content only
    from edgeenv import LoggedProc, free_udp_port
    port = free_udp_port()
    p = LoggedProc([WARREN, "edge", "--listen", f"127.0.0.1:{port}", "--http", "127.0.0.1:0",
                    "--self-signed", tmp_path / "certs", "--config", conf], "edge",
                   env={**os.environ, "HOME": str(tmp_path)})
    try:
        import re
        line = p.wait_for(r"INF Starting edge")[0]
        hp = re.search(r"http=([\d.]+):(\d+)", line)

        class E:
            http = (hp.group(1), int(hp.group(2)))
        st, _, body = get(E, WWW, "/sub/a.txt")
        assert st == 200 and body == b"hello from a.txt\n"
        assert get(E, GW, f"/ipfs/{env.root}/sub/a.txt")[0] == 200
    finally:
        p.stop()
    bad = subprocess.run([str(WARREN), "edge", "--listen", "127.0.0.1:0", "--http",
                          "127.0.0.1:0", "--self-signed", tmp_path / "certs", "--content",
                          "x.test=/ipns/foo"], capture_output=True, text=True)
    assert bad.returncode != 0 and "neither a key" in bad.stderr
    bad = subprocess.run([str(WARREN), "edge", "--listen", "127.0.0.1:0", "--http",
                          "127.0.0.1:0", "--self-signed", tmp_path / "certs", "--content",
                          "x.test=/ipfs/notacid"], capture_output=True, text=True)
    assert bad.returncode != 0 and "x.test=/ipfs/notacid" in bad.stderr


def test_http2_front(env, tmp_path):
    """The same handler behind the HTTP/2 front (HTTPS, ALPN h2): a 3 MB file
    and a CAR stream with the front's flow control, verified end to end."""
    import re
    tunnels, _ = create_tunnel(tmp_path, "other", "other.example.com")
    edge = Edge(tmp_path, tunnels, "--repo", env.repo, "--gateway", GW, "--https",
                "127.0.0.1:0")
    try:
        line = edge.wait_for(r"INF Starting edge")[0]
        port = int(re.search(r"https=[\d.]+:(\d+)", line).group(1))
        url = f"https://{GW}:{port}/ipfs/{env.root}/sub/big.bin"
        r = subprocess.run(["curl", "-sS", "-k", "--http2", "--resolve", f"{GW}:{port}:127.0.0.1",
                            "-o", "-", "-w", "%{http_version} %{http_code}", url],
                           capture_output=True, timeout=60)
        body, tail = r.stdout[:-5], r.stdout[-5:].decode()
        assert tail == "2 200", tail
        assert body == (env.site / "sub" / "big.bin").read_bytes()
        r = subprocess.run(["curl", "-sS", "-k", "--http2", "--resolve", f"{GW}:{port}:127.0.0.1",
                            f"https://{GW}:{port}/ipfs/{env.root}?format=car"],
                           capture_output=True, timeout=60)
        car = car_verify(r.stdout)
        assert [b["cid"] for b in car["blocks"]] == \
            [b["cid"] for b in dag_export(env, env.root)["blocks"]]
    finally:
        edge.stop()


def test_backpressure_slow_reader(env, tmp_path):
    """A user who sends a request for 48 MiB and then reads nothing holds up
    the gateway, not the edge's memory: anonymous memory stays within a few
    MB while the bytes wait (only the front's queue and the socket buffers
    fill); then the whole file arrives intact."""
    import socket
    data = random.Random(3).randbytes(48 << 20)
    f = tmp_path / "slow.bin"
    f.write_bytes(data)
    cid = add(env.repo, f)[""]
    pid = env.edge.proc.pid
    base = rss_anon_kb(pid)
    h, p = env.edge.http
    s = socket.create_connection((h, p))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(f"GET /ipfs/{cid} HTTP/1.1\r\nHost: {GW}\r\n\r\n".encode())
    peak = base
    for _ in range(20):
        time.sleep(0.1)
        peak = max(peak, rss_anon_kb(pid))
    assert peak - base < 8 * 1024, (base, peak)
    got = bytearray()
    s.settimeout(30)
    end = -1
    while end < 0 or len(got) - end < len(data):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        got += chunk
        if end < 0 and b"\r\n\r\n" in got:
            end = got.index(b"\r\n\r\n") + 4
    s.close()
    head, body = bytes(got[:end]), bytes(got[end:])
    assert head.startswith(b"HTTP/1.1 200") and hashlib.sha256(body).digest() == \
        hashlib.sha256(data).digest()
    print(f"slow reader: edge anonymous memory {base} -> peak {peak} kB while 48 MiB waited")
