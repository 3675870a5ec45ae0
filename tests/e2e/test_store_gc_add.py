"""The store under `warren add`: gc keeps what add pinned and frees what it did not,
files read back after gc, and gc keeps away while an add is running."""
import os
import subprocess
import time

from conftest import WARREN


def w(repo, *args, input=None, timeout=120):
    return subprocess.run([str(WARREN), "--repo", str(repo), *map(str, args)], input=input,
                          capture_output=True, timeout=timeout)


def test_gc_after_add(tmp_path):
    repo = tmp_path / "repo"
    kept_data = os.urandom(1024 * 1024)        # 4 chunks + a root: 5 blocks
    dropped_data = os.urandom(3 * 262144 + 5)  # 4 chunks + a root: 5 blocks
    (tmp_path / "kept").write_bytes(kept_data)
    (tmp_path / "dropped").write_bytes(dropped_data)
    kept = w(repo, "add", "-Q", tmp_path / "kept").stdout.decode().strip()
    dropped = w(repo, "add", "-Q", "--pin=false", tmp_path / "dropped").stdout.decode().strip()
    assert kept.startswith("Qm") and dropped.startswith("Qm")
    assert w(repo, "pin", "ls", "--type=recursive").stdout.decode() == f"{kept} recursive\n"
    r = w(repo, "gc")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert len([l for l in lines if l.startswith("removed ")]) == 5
    assert lines[-1].startswith(f"gc: removed 5 blocks, ")
    assert "kept 5 pinned blocks" in lines[-1]
    assert w(repo, "cat", kept).stdout == kept_data
    r = w(repo, "cat", dropped)
    assert r.returncode != 0 and r.stdout == b""
    # the pinned file exports and re-imports as the same DAG
    e = w(repo, "dag", "export", kept)
    assert e.returncode == 0
    repo2 = tmp_path / "repo2"
    r = w(repo2, "dag", "import", "-", input=e.stdout)
    assert r.stdout.decode() == f"Pinned root\t{kept}\tsuccess\n"
    assert w(repo2, "cat", kept).stdout == kept_data


def test_gc_waits_for_no_add(tmp_path):
    """gc refuses while an add holds the repo, and the add finishes intact."""
    repo = tmp_path / "repo"
    w(repo, "init")
    data = os.urandom(64 * 1024 * 1024)
    p = subprocess.Popen([str(WARREN), "--repo", str(repo), "add", "-Q"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(data[:1024 * 1024])  # the add is now running, waiting for more
    p.stdin.flush()
    time.sleep(0.3)
    r = w(repo, "gc")
    assert r.returncode == 1
    assert b"is in use by another warren process; gc needs it alone" in r.stderr
    out, err = p.communicate(data[1024 * 1024:], timeout=120)
    assert p.returncode == 0, err
    cid = out.decode().strip()
    assert w(repo, "gc").returncode == 0
    assert w(repo, "cat", cid, timeout=120).stdout == data
