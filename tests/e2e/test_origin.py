"""The test origin itself behaves as the tunnel tests assume (checked with curl)."""
import hashlib

from conftest import curl
from origin import pattern_sha256


def test_download_and_chunked(origin, tmp_path):
    r = curl(f"{origin.url}/bytes/200000")
    assert hashlib.sha256(r.stdout).hexdigest() == pattern_sha256(200000)
    head = tmp_path / "head"
    r = curl("-D", head, f"{origin.url}/chunked/70000")
    assert b"Transfer-Encoding: chunked" in head.read_bytes()
    assert hashlib.sha256(r.stdout).hexdigest() == pattern_sha256(70000)


def test_upload_sha256_both_framings(origin, tmp_path):
    body = tmp_path / "body"
    body.write_bytes(b"x" * 100000)
    want = hashlib.sha256(b"x" * 100000).hexdigest()
    r = curl("--data-binary", f"@{body}", f"{origin.url}/sha256")
    assert r.stdout.decode().split() == [want, "100000"]
    r = curl("-H", "Transfer-Encoding: chunked", "--data-binary", f"@{body}",
             f"{origin.url}/sha256")
    assert r.stdout.decode().split() == [want, "100000"]
