"""A tunnel hostname with a content fallback (`--content HOST=/ipfs/CID` on a
tunnel's hostname): the origin answers while a connector is attached; GETs get
the content when the origin answers 502/503/504 or when the connector is gone
(killed), and a POST still gets the tunnel's 502."""
import pytest

from conftest import Origin
from edgeenv import Connector, Edge, create_tunnel
from gwenv import add, get, metric

HOST = "app.example.com"


@pytest.fixture
def env(tmp_path):
    site = tmp_path / "site"
    (site / "status").mkdir(parents=True)
    (site / "index.html").write_text("<p>snapshot of the site</p>\n")
    (site / "hello").write_text("hello from the content\n")
    (site / "status" / "502").write_text("content answered instead of a 502\n")
    repo = tmp_path / "repo"
    root = add(repo, site)[""]
    tunnels, cred = create_tunnel(tmp_path, "web", HOST)
    origin = Origin()
    edge = Edge(tmp_path, tunnels, "--repo", repo, "--content", f"{HOST}=/ipfs/{root}")
    conn = Connector(edge, cred, origin.url, ha=1)
    edge.wait_for(r"INF Registered tunnel connection tunnel=web")
    yield edge, conn, origin
    conn.stop()
    edge.stop()
    origin.stop()


def test_fallback(env):
    edge, conn, origin = env
    try:
        run_fallback(edge, conn)
    except AssertionError:
        print(edge.log()[-6000:])
        raise


def run_fallback(edge, conn):
    # connector attached: the origin answers
    st, _, body = get(edge, HOST, "/hello")
    assert st == 200 and body != b"hello from the content\n" and body
    # the origin answers 502: the content does instead
    st, h, body = get(edge, HOST, "/status/502")
    assert st == 200 and body == b"content answered instead of a 502\n"
    assert h["x-ipfs-path"].endswith("/status/502")
    # 503/504 from the origin, not in the content: the content's 404
    assert get(edge, HOST, "/status/503")[0] == 404
    # other statuses pass through
    assert get(edge, HOST, "/status/500")[0] == 500
    assert metric(edge, "warren_edge_content_fallbacks_total") >= 1
    # the connector is killed: GETs are served from the content
    conn.stop(sig=9)
    st, _, body = get(edge, HOST, "/hello", "--max-time", "20")
    assert st == 200 and body == b"hello from the content\n"
    st, _, body = get(edge, HOST, "/")
    assert st == 200 and body == b"<p>snapshot of the site</p>\n"
    st, _, _ = get(edge, HOST, "/hello", "-I")
    assert st == 200
    # a POST is not answered from a snapshot
    assert get(edge, HOST, "/echo", "-X", "POST", "-d", "x")[0] == 502
    edge.wait_for(r"Serving content: no connector for the tunnel")
