"""Helpers for the gateway's end-to-end tests: a repo filled with `warren add`,
an edge serving it, curl with a Host, CIDs decoded to check raw blocks, and
CAR streams read and verified by npm's @ipld/car (tests/npm/car_verify.mjs)."""
import base64
import hashlib
import json
import pathlib
import re
import subprocess

from conftest import ROOT, WARREN

NPM = ROOT / "tests" / "npm"
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def add(repo, path, *flags):
    """`warren add -r` of path; returns {relative path: CID} (the root under "")."""
    r = subprocess.run([str(WARREN), "--repo", str(repo), "add", "-r", *flags, str(path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = {}
    base = pathlib.Path(path).name
    for line in r.stdout.splitlines():
        _, cid, name = line.split(" ", 2)
        rel = name[len(base):].lstrip("/")
        out[rel] = cid
    return out


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def cid_digest(cid):
    """(hash code, digest) of a CIDv0 (base58) or base32 CIDv1 text."""
    if cid.startswith("Qm"):
        n = 0
        for ch in cid:
            n = n * 58 + B58.index(ch)
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return raw[0], raw[2:]
    assert cid[0] == "b", cid
    s = cid[1:].upper()
    raw = base64.b32decode(s + "=" * (-len(s) % 8))
    _, i = varint(raw, 0)   # version
    _, i = varint(raw, i)   # codec
    code, i = varint(raw, i)
    length, i = varint(raw, i)
    return code, raw[i:i + length]


def check_block(cid, data):
    code, digest = cid_digest(cid)
    assert code == 0x12, f"{cid}: not sha2-256"
    assert hashlib.sha256(data).digest() == digest, f"{cid}: bytes do not match"


def car_verify(data):
    """Reads a CAR with @ipld/car, checking every block's hash; returns its JSON summary."""
    r = subprocess.run(["node", str(NPM / "car_verify.mjs"), "-"], input=data,
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


def get(edge, host, path, *args, timeout=60):
    """curl -sS -i through the edge with Host: host. Returns (status, headers, body)."""
    h, p = edge.http
    r = subprocess.run(["curl", "-sS", "-i", "--path-as-is", "-H", f"Host: {host}", *args,
                        f"http://{h}:{p}{path}"], capture_output=True, timeout=timeout)
    assert r.returncode == 0, r.stderr.decode()
    return parse(r.stdout)


def parse(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def metric(edge, name):
    h, p = edge.metrics
    r = subprocess.run(["curl", "-sS", f"http://{h}:{p}/metrics"], capture_output=True,
                       text=True, timeout=10)
    for line in r.stdout.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def rss_anon_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("RssAnon:"):
            return int(re.findall(r"\d+", line)[0])
    return 0
