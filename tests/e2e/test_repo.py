"""The repo as a whole: `repo stat`, `repo verify` catching a flipped bit, gc giving
space back to the disk, readers never waiting behind a long add, and an add that
fails on one path adding nothing."""
import os
import subprocess
import time

from conftest import WARREN


def w(repo, *args, input=None, timeout=120):
    return subprocess.run([str(WARREN), "--repo", str(repo), *map(str, args)], input=input,
                          capture_output=True, timeout=timeout)


def stat(repo):
    r = w(repo, "repo", "stat")
    assert r.returncode == 0, r.stderr
    return dict(line.split(":", 1) for line in r.stdout.decode().splitlines())


def test_add_with_a_missing_path_adds_nothing(tmp_path):
    repo = tmp_path / "repo"
    (tmp_path / "a").write_bytes(b"hello\n")
    (tmp_path / "dir").mkdir()
    for bad, why in [("missing", b"cannot read"), ("dir", b"is a folder: use -r")]:
        r = w(repo, "add", tmp_path / "a", tmp_path / bad)
        assert r.returncode == 1
        assert r.stdout == b""  # no "added" line for a that was then thrown away
        assert why in r.stderr and b"Nothing was added." in r.stderr
    assert int(stat(repo)["NumObjects"]) == 0
    assert w(repo, "pin", "ls").stdout == b""


def test_readers_do_not_wait_behind_a_writer(tmp_path):
    """An add holds LMDB's write lock while it reads its input; cat, ls and
    repo stat opened meanwhile answer at once."""
    repo = tmp_path / "repo"
    data = os.urandom(300_000)
    cid = w(repo, "add", "-Q", input=data).stdout.decode().strip()
    p = subprocess.Popen([str(WARREN), "--repo", str(repo), "add", "-Q"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(os.urandom(1 << 20))  # the add has begun writing and waits for more
        p.stdin.flush()
        time.sleep(0.3)
        t = time.monotonic()
        r = w(repo, "cat", cid, timeout=10)
        assert r.returncode == 0 and r.stdout == data, r.stderr
        assert w(repo, "repo", "stat", timeout=10).returncode == 0
        assert time.monotonic() - t < 2
        out, err = p.communicate(b"", timeout=60)
        assert p.returncode == 0, err
    finally:
        p.kill()
        p.wait()


def test_verify_finds_a_flipped_bit(tmp_path):
    repo = tmp_path / "repo"
    leaf = os.urandom(4000)  # one raw block with CIDv1: stored as is
    (tmp_path / "f").write_bytes(leaf)
    cid = w(repo, "add", "-Q", "--cid-version=1", tmp_path / "f").stdout.decode().strip()
    assert cid.startswith("bafkrei")
    r = w(repo, "repo", "verify")
    assert r.returncode == 0 and r.stdout == b"verify complete, all 1 blocks validated\n"
    db = repo / "store" / "data.mdb"
    raw = bytearray(db.read_bytes())
    at = raw.find(leaf[1000:1064])
    assert at > 0
    raw[at] ^= 0x01
    db.write_bytes(bytes(raw))
    r = w(repo, "repo", "verify")
    assert r.returncode == 1
    assert r.stdout.decode().splitlines() == [
        f"block {cid} was corrupt: its bytes do not match its hash",
        "verify complete, 1 of 1 blocks were corrupt"]
    assert w(repo, "cat", cid).returncode != 0
    # --remove drops the bad copy, so adding the file again stores a good one
    r = w(repo, "repo", "verify", "--remove")
    assert r.returncode == 1
    assert r.stdout.decode().splitlines()[1] == f"removed {cid}"
    assert w(repo, "repo", "verify").stdout == b"verify complete, all 0 blocks validated\n"
    assert w(repo, "add", "-Q", "--cid-version=1", tmp_path / "f").stdout.decode().strip() == cid
    assert w(repo, "cat", cid).stdout == leaf


def test_gc_gives_space_back(tmp_path):
    repo = tmp_path / "repo"
    kept = os.urandom(4 << 20)
    kept_cid = w(repo, "add", "-Q", input=kept).stdout.decode().strip()
    r = w(repo, "add", "-Q", "--pin=false", input=os.urandom(120 << 20))
    assert r.returncode == 0, r.stderr
    before = stat(repo)
    assert int(before["RepoSize"]) > 120 << 20
    # --no-compact: the blocks go, the file keeps its size and reports the space free
    r = w(repo, "gc", "--no-compact")
    assert r.returncode == 0, r.stderr
    assert "compacted" not in r.stdout.decode()
    mid = stat(repo)
    assert int(mid["RepoSize"]) >= int(before["RepoSize"])
    assert int(mid["FreeBytes"]) > 110 << 20
    assert int(mid["NumObjects"]) == 17  # 16 chunks of 256 KiB and their root
    # a plain gc sees that most of the file is free and compacts it
    r = w(repo, "gc")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[-2].startswith("gc: removed 0 blocks")
    assert lines[-1].startswith("gc: compacted the store from ")
    after = stat(repo)
    assert int(after["RepoSize"]) < 6 << 20
    assert (repo / "store" / "data.mdb").stat().st_size == int(after["RepoSize"])
    assert int(after["NumObjects"]) == 17 and int(after["NumPins"]) == 1
    assert not (repo / "store.compact").exists()
    assert w(repo, "cat", kept_cid).stdout == kept
    assert w(repo, "repo", "verify").returncode == 0
    # the compacted store takes writes again
    cid = w(repo, "add", "-Q", input=b"after\n").stdout.decode().strip()
    assert w(repo, "cat", cid).stdout == b"after\n"


def test_compact_needs_the_repo_alone(tmp_path):
    repo = tmp_path / "repo"
    w(repo, "init")
    p = subprocess.Popen([str(WARREN), "--repo", str(repo), "add", "-Q"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"x" * 1000)
        p.stdin.flush()
        time.sleep(0.3)
        r = w(repo, "repo", "compact")
        assert r.returncode == 1
        assert b"in use by another warren process; repo compact needs it alone" in r.stderr
        p.communicate(b"", timeout=60)
        assert p.returncode == 0
    finally:
        p.kill()
        p.wait()
    r = w(repo, "repo", "compact")
    assert r.returncode == 0 and r.stdout.startswith(b"compacted the store from ")
