"""https:// origins through the whole tunnel: an origin (origin.py's handler
behind Python's ssl module, with a certificate from a CA made by openssl)
reached by `warren tunnel run` with originRequest caPool, noTLSVerify and
originServerName; refused (502 and a log line) when its certificate does not
verify; one TLS connection reused for consecutive requests; the same over a
Unix socket (unix+tls:)."""
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import WARREN, curl
from edgeenv import Edge, LoggedProc, create_tunnel

sys.path.insert(0, str(Path(__file__).parent))
import origin as origin_mod  # noqa: E402

HOST = "app.example.com"


def via(edge, path):
    h, p = edge.http
    return ["--resolve", f"{HOST}:{p}:{h}", f"http://{HOST}:{p}{path}"]


def make_pki(d):
    """A CA and a leaf for DNS:origin.test signed by it; returns (ca, crt, key)."""
    return make_pki_for(d, "origin.test")


def make_pki_for(d, name, ca_dir=None):
    """A leaf for DNS:name in d, signed by the CA in ca_dir (made there first
    when missing; default d); returns (ca, crt, key)."""
    def run(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True)
    ca_dir = ca_dir or d
    d.mkdir(exist_ok=True)
    ca_key, ca = ca_dir / "ca.key", ca_dir / "ca.crt"
    key, csr, crt = (d / n for n in ("o.key", "o.csr", "o.crt"))
    if not ca.exists():
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=warren test origin CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
    ext = d / "ext.cnf"
    ext.write_text(f"subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return ca, crt, key


class TLSOrigin:
    """origin.py's handler over TLS on 127.0.0.1; counts accepted TCP
    connections and completed handshakes."""

    def __init__(self, crt, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        outer = self
        self.accepted = 0
        self.handshakes = 0

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                conn, addr = self.socket.accept()
                outer.accepted += 1
                conn.settimeout(10)
                # A refused handshake raises an OSError (ssl.SSLError): the
                # server drops that connection and goes on.
                tls = ctx.wrap_socket(conn, server_side=True)
                tls.settimeout(None)
                outer.handshakes += 1
                return tls, addr

        self.srv = Server(("127.0.0.1", 0), origin_mod.Handler)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class ConfigConnector(LoggedProc):
    """`warren tunnel run` driven by a config.yml with ingress rules."""

    def __init__(self, tmp, edge, cred, ingress):
        cfg = tmp / "config.yml"
        cfg.write_text(f"tunnel: web\ncredentials-file: {cred}\ningress:\n{ingress}")
        super().__init__([WARREN, "tunnel", "--edge", f"127.0.0.1:{edge.quic_port}",
                          "--edge-ca", edge.ca, "--ha-connections", "1", "--config", cfg,
                          "run", "web"], "connector")
        edge.wait_for(r"INF Registered tunnel connection")


@pytest.fixture
def env(tmp_path):
    tunnels, cred = create_tunnel(tmp_path, "web", HOST)
    ca, crt, key = make_pki(tmp_path)
    origin = TLSOrigin(crt, key)
    edge = Edge(tmp_path, tunnels)
    procs = [edge]
    yield tmp_path, edge, cred, ca, origin, procs
    for p in reversed(procs):
        p.stop()
    origin.stop()


def rule(origin, **req):
    r = f"  - service: https://127.0.0.1:{origin.port}\n"
    if req:
        r += "    originRequest:\n" + "".join(f"      {k}: {v}\n" for k, v in req.items())
    return r


def get_and_post(tmp, edge):
    """A 300 KB download and a 1 MiB upload through the tunnel, checked by SHA-256."""
    r = curl("-f", *via(edge, "/bytes/300000"))
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == origin_mod.pattern_sha256(300000)
    body = os.urandom(1 << 20)
    (tmp / "b").write_bytes(body)
    r = curl("-f", "--data-binary", f"@{tmp / 'b'}", *via(edge, "/sha256"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split()[0] == hashlib.sha256(body).hexdigest()


def test_ca_pool_get_post_and_keepalive(env):
    tmp, edge, cred, ca, origin, procs = env
    procs.append(ConfigConnector(tmp, edge, cred,
                                 rule(origin, caPool=ca, originServerName="origin.test")))
    get_and_post(tmp, edge)
    # The three requests above went over one kept-alive TLS connection.
    assert curl("-f", *via(edge, "/hello")).stdout == b"Hello from the origin\n"
    assert origin.accepted == 1 and origin.handshakes == 1


def test_refused_without_ca_pool(env):
    tmp, edge, cred, ca, origin, procs = env
    c = ConfigConnector(tmp, edge, cred, rule(origin, originServerName="origin.test"))
    procs.append(c)
    r = curl("-o", "/dev/null", "-w", "%{http_code}", *via(edge, "/hello"))
    assert r.stdout == b"502"
    c.wait_for(r"ERR Unable to reach the origin service.*server certificate refused: it does "
               r"not verify against the system's CAs")
    assert origin.handshakes == 0


def test_wrong_server_name_refused(env):
    tmp, edge, cred, ca, origin, procs = env
    # Without originServerName the name checked is the service's host, 127.0.0.1.
    c = ConfigConnector(tmp, edge, cred, rule(origin, caPool=ca))
    procs.append(c)
    r = curl("-o", "/dev/null", "-w", "%{http_code}", *via(edge, "/hello"))
    assert r.stdout == b"502"
    c.wait_for(r"server certificate refused: it is valid under the CA file .*ca\.crt but not "
               r"issued for 127\.0\.0\.1")


def test_no_tls_verify(env):
    tmp, edge, cred, ca, origin, procs = env
    c = ConfigConnector(tmp, edge, cred, rule(origin, noTLSVerify="true"))
    procs.append(c)
    for _ in range(2):
        assert curl("-f", *via(edge, "/hello")).stdout == b"Hello from the origin\n"
    c.wait_for(r"WRN TLS verification of the origin is off")
    assert len([l for l in c.lines if "verification of the origin is off" in l]) == 1
    assert origin.handshakes == 1


class UnixTLSOrigin:
    """origin.py's handler over TLS on a Unix socket; counts handshakes."""

    def __init__(self, path, crt, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        outer = self
        self.handshakes = 0

        class Server(origin_mod.UnixHTTPServer):
            daemon_threads = True

            def get_request(self):
                conn, addr = super().get_request()
                conn.settimeout(10)
                tls = ctx.wrap_socket(conn, server_side=True)
                tls.settimeout(None)
                outer.handshakes += 1
                return tls, addr

        self.srv = Server(str(path), origin_mod.Handler)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def unix_env(env):
    """env plus a TLS origin on a Unix socket whose certificate names localhost;
    yields env and a function that starts a connector with extra originRequest lines."""
    tmp, edge, cred, ca, _, procs = env
    _, crt, key = make_pki_for(tmp / "u", "localhost", ca_dir=tmp)
    sock = tmp / "o.sock"
    uo = UnixTLSOrigin(sock, crt, key)

    def connect(extra=""):
        c = ConfigConnector(tmp, edge, cred, f"  - service: unix+tls:{sock}\n"
                            f"    originRequest:\n      caPool: {ca}\n{extra}")
        procs.append(c)
        return c
    yield env, uo, connect
    uo.stop()


def test_unix_tls_origin(unix_env):
    (tmp, edge, *_), uo, connect = unix_env
    connect()  # no originServerName: the certificate is checked for localhost
    get_and_post(tmp, edge)
    assert uo.handshakes == 1  # kept alive across both requests


def test_unix_tls_origin_wrong_name_refused(unix_env):
    (tmp, edge, *_), uo, connect = unix_env
    c = connect("      originServerName: other.test\n")
    r = curl("-o", "/dev/null", "-w", "%{http_code}", *via(edge, "/hello"))
    assert r.stdout == b"502"
    c.wait_for(r"ERR Unable to reach the origin service.*not issued for other\.test")
