"""warren add/cat/get/ls end to end: the published kubo vectors, differential
tests against the npm reference importer (ipfs-unixfs-importer 17, run by
tests/npm/import.mjs) on generated data, round trips through the store, CAR
files with @ipld/car, and a kill -9 during add."""
import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import ROOT, WARREN, run_warren

NPM_DIR = ROOT / "tests" / "npm"
IMPORT_MJS = NPM_DIR / "import.mjs"
CHUNK = 262144


def ensure_npm():
    """Installs the npm reference packages when missing (make check does it
    too). Returns the node binary."""
    node = shutil.which("node")
    assert node, "node is missing: scripts/install-deps installs nodejs and npm"
    if not (NPM_DIR / "node_modules" / "ipfs-unixfs-importer").exists():
        npm = shutil.which("npm")
        assert npm, "npm is missing: scripts/install-deps installs it"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NPM_DIR, check=True,
                       capture_output=True, timeout=600)
    return node


@pytest.fixture(scope="session")
def node_bin():
    return ensure_npm()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    r = tmp_path / "repo"
    monkeypatch.setenv("WARREN_PATH", str(r))
    return r


def npm_import(node, path, *opts, all_entries=False, car=None):
    args = [node, str(IMPORT_MJS), *opts]
    if all_entries:
        args.append("--all")
    if car:
        args.append(f"--car={car}")
    args.append(str(path))
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[-1] if not all_entries else out.stdout


def warren_add(*args, timeout=600):
    r = run_warren("add", *args, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout


def warren_root(*args):
    return warren_add("-Q", *args).strip()


def rand_bytes(n, seed):
    return random.Random(seed).randbytes(n)


# Options as (warren flags, import.mjs flags).
OPTION_SETS = {
    "kubo-default": ([], []),
    "cidv1": (["--cid-version=1"], ["--cid-version=1"]),
    "cidv1-dagpb-leaves": (["--cid-version=1", "--raw-leaves=false"],
                           ["--cid-version=1", "--raw-leaves=false"]),
    "raw-leaves-v0": (["--raw-leaves"], ["--raw-leaves"]),
    "profile-v1-2025": (["--profile=unixfs-v1-2025"], ["--profile=unixfs-v1-2025"]),
    "trickle": (["-t"], ["--trickle"]),
    "trickle-cidv1": (["-t", "--cid-version=1"], ["--trickle", "--cid-version=1"]),
}


# --- the published vectors (../shared/vectors/README.md) -------------------

VECTORS = [
    (b"hello world\n", [], "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"),
    (b"hello world\n", ["--cid-version=1"],
     "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"),
    (b"hello world", [], "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"),
    (b"hello world", ["--profile=unixfs-v1-2025"],
     "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"),
    (b"", [], "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
    (b"", ["--raw-leaves"], "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
    (b"Hello Worlds!\n", [], "QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH"),
    (b"Hello Worlds!\n", ["-t"], "QmUkUQgxXeggyaD5Ckv8ZqfW8wHBX6cYyeiyqvVZYzq5Bi"),
    (b"IPFS\n", [], "QmdFyxZXsFiP4csgfM5uPu99AvFiKH62CSPDw5TP92nr7w"),
    (b"Hello Jupiter!\n", [], "QmUnvPcBctVTAcJpigv6KMqDvmDewksPWrNVoy1E1WP5fh"),
]

DIR_VECTORS = [
    ([], "QmWSgS32xQEcXMeqd3YPJLrNBLSdsfYCep2U7CFkyrjXwY"),
    (["--raw-leaves"], "QmfWfQfKCY5Ukv9peBbxM5vqWM9BzmqUSXvdCgjT2wsiBT"),
    (["--cid-version=1"], "bafybeih7e5dmkyk25up5vxug4q3hrg2fxbzf23dfrac2fns5h7z4aa7ioi"),
    (["--cid-version=1", "--raw-leaves=false"],
     "bafybeif5tuep5ap2d7zyhbktucey75aoacxufgt6i3v4gebmixyipnyp7y"),
]


@pytest.mark.parametrize("data,opts,cid", VECTORS)
def test_vector_files(warren_bin, repo, tmp_path, data, opts, cid):
    f = tmp_path / "input"
    f.write_bytes(data)
    assert warren_root("-n", *opts, f) == cid
    # The same from stdin, stored, and read back.
    r = run_warren("add", "-Q", *opts, input=data.decode())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == cid
    got = subprocess.run([str(WARREN), "cat", cid], capture_output=True, timeout=30)
    assert got.returncode == 0 and got.stdout == data


def planets(tmp_path):
    d = tmp_path / "planets"
    d.mkdir()
    (d / "mars.txt").write_text("Hello Mars!\n")
    (d / "venus.txt").write_text("Hello Venus!\n")
    return d


@pytest.mark.parametrize("opts,cid", DIR_VECTORS)
def test_vector_dirs(warren_bin, repo, tmp_path, opts, cid):
    d = planets(tmp_path)
    out = warren_add("-r", *opts, d)
    lines = out.strip().split("\n")
    # kubo's output: files first, the folder last, paths from the folder's name.
    assert lines[-1] == f"added {cid} planets"
    assert [ln.split()[2] for ln in lines] == ["planets/mars.txt", "planets/venus.txt", "planets"]


def test_vector_empty_dir(warren_bin, repo, tmp_path):
    e = tmp_path / "e"
    e.mkdir()
    assert warren_root("-n", "-r", e) == "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
    assert warren_root("-n", "-r", "--cid-version=1", e) == \
        "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"


# --- differential tests against ipfs-unixfs-importer ------------------------

SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 174 * CHUNK - 1, 174 * CHUNK, 174 * CHUNK + 1,
         50 * 1000 * 1000]


@pytest.fixture(scope="module")
def size_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sizes") / "sizes"
    d.mkdir()
    for i, n in enumerate(SIZES):
        (d / f"size-{n}").write_bytes(rand_bytes(n, 1000 + i))
    return d


def parse_added(out):
    res = {}
    for ln in out.strip().split("\n"):
        m = re.fullmatch(r"added (\S+) (.+)", ln)
        assert m, ln
        res[m.group(2)] = m.group(1)
    return res


def parse_npm(out):
    res = {}
    for ln in out.strip().split("\n"):
        parts = ln.split(" ", 1)
        if len(parts) == 2:
            res[parts[1]] = parts[0]
    return res


@pytest.mark.parametrize("name", list(OPTION_SETS))
def test_npm_file_sizes(warren_bin, node_bin, size_files, name):
    """Every size, as one folder import on both sides: each file's CID and
    the folder's must be identical."""
    wopts, nopts = OPTION_SETS[name]
    ours = parse_added(warren_add("-n", "-r", *wopts, size_files))
    ref = parse_npm(npm_import(node_bin, size_files, *nopts, all_entries=True))
    assert len(ours) == len(SIZES) + 1
    for path, cid in ours.items():
        assert ref.get(path) == cid, f"{name}: {path}: warren {cid}, npm {ref.get(path)}"


def test_npm_single_file_50mb(warren_bin, node_bin, size_files):
    f = size_files / "size-50000000"
    for name in ("kubo-default", "profile-v1-2025", "trickle"):
        wopts, nopts = OPTION_SETS[name]
        assert warren_root("-n", *wopts, f) == npm_import(node_bin, f, *nopts), name


def test_npm_small_chunks_deep_trees(warren_bin, node_bin, tmp_path):
    """Small chunks and few links make deep balanced and trickle trees."""
    f = tmp_path / "deep"
    f.write_bytes(rand_bytes(300_000, 7))
    for chunk, links in ((256, 2), (256, 3), (1000, 4), (1000, 7)):
        for trickle in (False, True):
            w = ["--chunker=size-%d" % chunk, "--max-links=%d" % links] + (["-t"] if trickle else [])
            n = ["--chunk-size=%d" % chunk, "--max-children=%d" % links] + \
                (["--trickle"] if trickle else [])
            assert warren_root("-n", *w, f) == npm_import(node_bin, f, *n), (chunk, links, trickle)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Nested folders, an empty folder, symlinks, a hidden file, odd names and
    a folder large enough to be HAMT-sharded with kubo's defaults."""
    root = tmp_path_factory.mktemp("tree") / "site"
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a" / "one.txt").write_text("one\n")
    (root / "a" / "b" / "two.bin").write_bytes(rand_bytes(600_000, 3))
    (root / "a" / "b" / "c" / "three").write_text("three\n")
    (root / "Z-upper").write_text("sorts before lower case\n")
    (root / "ünïcödé name.txt").write_text("utf-8 names\n")
    (root / ".hidden").write_text("only with --hidden\n")
    os.symlink("a/one.txt", root / "link-to-one")
    os.symlink("/nonexistent/target", root / "dangling")
    shard = root / "many"
    shard.mkdir()
    for i in range(6000):
        (shard / f"file-{i:05d}.txt").write_text(f"file {i}\n")
    return root


@pytest.mark.parametrize("name", ["kubo-default", "cidv1", "profile-v1-2025", "raw-leaves-v0"])
def test_npm_tree_with_hamt(warren_bin, node_bin, tree, name):
    wopts, nopts = OPTION_SETS[name]
    ours = parse_added(warren_add("-n", "-r", *wopts, tree))
    ref = parse_npm(npm_import(node_bin, tree, *nopts, all_entries=True))
    for path in ("site", "site/many", "site/a", "site/link-to-one", "site/dangling"):
        assert ours[path] == ref[path], f"{name}: {path}"
    # The npm importer does not report empty folders as entries of their own;
    # every entry it reports must match.
    assert {k: ours.get(k) for k in ref} == ref
    assert set(ours) - set(ref) == {"site/empty"}


def test_npm_tree_hidden(warren_bin, node_bin, tree):
    ours = warren_root("-n", "-r", "-H", tree)
    assert ours == npm_import(node_bin, tree, "--hidden")
    assert ours != warren_root("-n", "-r", tree)


def test_hamt_is_sharded(warren_bin, repo, tree):
    """The 6000-entry folder really is a HAMT: its root links are named by
    two hex digits (plus the entry name), and ls/cat see through it."""
    root = warren_root("-r", tree)
    r = run_warren("ls", f"{root}/many")
    assert r.returncode == 0, r.stderr
    names = [ln.split()[-1] for ln in r.stdout.strip().split("\n")]
    assert sorted(names) == sorted(f"file-{i:05d}.txt" for i in range(6000))
    many = [ln.split()[0] for ln in run_warren("ls", root).stdout.split("\n")
            if ln.endswith(" many/")][0]
    blk = subprocess.run([str(WARREN), "block", "get", many], capture_output=True)
    assert blk.returncode == 0, blk.stderr
    # 6000 names over 256 slots: every slot of the root shard holds several,
    # so each root link is a sub-shard named by its slot alone (Name field of
    # two upper-case hex digits), in slot order.
    labels = re.findall(rb"\x12\x02([0-9A-F]{2})\x18", blk.stdout)
    assert labels == [b"%02X" % i for i in range(256)]
    got = subprocess.run([str(WARREN), "cat", f"{root}/many/file-04321.txt"],
                         capture_output=True, text=True)
    assert got.stdout == "file 4321\n"


def names_dir(base, count, name_len):
    d = base / f"edge-{count}-{name_len}"
    d.mkdir()
    for i in range(count):
        n = f"n{i:0{name_len - 1}d}"
        assert len(n) == name_len
        (d / n).write_text("same\n")
    return d


def test_npm_hamt_threshold_edges(warren_bin, node_bin, tmp_path):
    """kubo's legacy estimate: 4096 entries of 30-byte names and CIDv0 links
    make exactly 262144 bytes (stays flat), 4097 shard. The unixfs-v1-2025
    profile measures the serialized block: 3542 entries of 30-byte names stay
    at 262112 bytes, 3543 pass the threshold."""
    for count, opts, nopts in ((4096, [], []), (4097, [], []),
                               (3542, ["--profile=unixfs-v1-2025"], ["--profile=unixfs-v1-2025"]),
                               (3543, ["--profile=unixfs-v1-2025"], ["--profile=unixfs-v1-2025"])):
        d = names_dir(tmp_path, count, 30)
        assert warren_root("-n", "-r", *opts, d) == npm_import(node_bin, d, *nopts), count


# --- store round trips ---------------------------------------------------------

def test_round_trip_get_cat_ls(warren_bin, repo, tree, tmp_path, size_files):
    root = warren_root("-r", tree)
    out = tmp_path / "out"
    r = run_warren("get", root, "-o", out)
    assert r.returncode == 0, r.stderr
    # Everything but the hidden file comes back, symlinks as symlinks.
    cmp = subprocess.run(["diff", "-r", "--no-dereference", "-x", ".hidden", str(tree), str(out)],
                         capture_output=True, text=True)
    assert cmp.returncode == 0, cmp.stdout + cmp.stderr
    assert os.readlink(out / "dangling") == "/nonexistent/target"
    assert not (out / ".hidden").exists()
    # A single file, by path through the folder.
    r = run_warren("get", f"{root}/a/b/two.bin", "-o", tmp_path / "two")
    assert r.returncode == 0
    assert (tmp_path / "two").read_bytes() == (tree / "a" / "b" / "two.bin").read_bytes()

    big = size_files / f"size-{174 * CHUNK + 1}"
    cid = warren_root(big)
    data = big.read_bytes()
    for off, length in ((0, None), (5, 10), (CHUNK - 3, 7), (174 * CHUNK - 1, 10),
                        (len(data) - 1, 100), (len(data) + 10, 5), (CHUNK * 3, CHUNK * 2 + 17)):
        args = ["cat", "--offset", str(off)] + (["--length", str(length)] if length else []) + [cid]
        got = subprocess.run([str(WARREN), *args], capture_output=True, timeout=60)
        assert got.returncode == 0, got.stderr
        want = data[off:off + length] if length is not None else data[off:]
        assert got.stdout == want, (off, length)


def test_ls_kubo_format(warren_bin, repo, tmp_path):
    d = planets(tmp_path)
    (d / "moons").mkdir()
    (d / "moons" / "phobos").write_text("small\n")
    root = warren_root("-r", d)
    r = run_warren("ls", root)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")[:-1]
    assert re.fullmatch(r"Qm\w{44} 12 mars\.txt", lines[0])
    assert re.fullmatch(r"Qm\w{44} -  moons/", lines[1])
    assert re.fullmatch(r"Qm\w{44} 13 venus\.txt", lines[2])
    # Several arguments: a header per listing, a blank line between.
    r = run_warren("ls", root, f"{root}/moons")
    assert r.stdout.startswith(f"{root}:\n")
    assert f"\n\n{root}/moons:\n" in r.stdout


def test_errors(warren_bin, repo, tmp_path):
    d = planets(tmp_path)
    r = run_warren("add", d)
    assert r.returncode == 1 and "use -r" in r.stderr
    r = run_warren("add", tmp_path / "missing")
    assert r.returncode == 1 and "No such file" in r.stderr
    r = run_warren("add", "--chunker=rabin", d)
    assert r.returncode == 2 and "size-N" in r.stderr
    r = run_warren("add", f"--chunker=size-{2 * 1024 * 1024}", d)
    assert r.returncode == 2
    r = run_warren("cat", "not-a-cid")
    assert r.returncode == 1 and "not a valid CID" in r.stderr
    r = run_warren("cat", "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    assert r.returncode == 1 and "not in the store" in r.stderr
    root = warren_root("-r", d)
    r = run_warren("cat", root)
    assert r.returncode == 1 and "is a folder" in r.stderr
    r = run_warren("cat", f"{root}/pluto.txt")
    assert r.returncode == 1 and 'no link named "pluto.txt"' in r.stderr


def test_pin_and_only_hash(warren_bin, repo, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(rand_bytes(1_000_000, 11))
    cid = warren_root("-n", f)
    assert not repo.exists() or run_warren("cat", cid).returncode == 1
    unpinned = warren_root("--pin=false", f)
    assert unpinned == cid
    assert cid not in run_warren("pin", "ls").stdout
    run_warren("gc", check=True)
    assert run_warren("cat", cid).returncode == 1  # gone: nothing pinned it
    assert warren_root(f) == cid
    assert f"{cid} recursive" in run_warren("pin", "ls").stdout
    run_warren("gc", check=True)
    got = subprocess.run([str(WARREN), "cat", cid], capture_output=True)
    assert got.stdout == f.read_bytes()


def test_kill_during_add_leaves_no_pin(warren_bin, repo, tmp_path):
    """kill -9 in the middle of a large add: afterwards no pin exists (the pin
    commits with the last blocks), the store opens, and a new add works."""
    f = tmp_path / "big"
    with open(f, "wb") as fh:
        rnd = random.Random(5)
        for _ in range(80):
            fh.write(rnd.randbytes(8 * 1024 * 1024))  # 640 MiB: several checkpoints
    cid = warren_root("-n", f)
    killed_mid_add = False
    for delay in (0.4, 0.8, 1.5):
        p = subprocess.Popen([str(WARREN), "add", "-Q", str(f)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed_mid_add = True
        p.wait()
        pins = run_warren("pin", "ls")
        assert pins.returncode == 0, pins.stderr
        if killed_mid_add:
            assert cid not in pins.stdout
            break
        run_warren("pin", "rm", cid, check=True)
    assert killed_mid_add, "add finished before it could be killed"
    assert warren_root(f) == cid
    assert f"{cid} recursive" in run_warren("pin", "ls").stdout


# --- CAR files with @ipld/car ---------------------------------------------------------

def test_car_from_npm_imports(warren_bin, node_bin, repo, tree, tmp_path):
    """A CAR written by @ipld/car (the npm importer's blocks) imports, and
    its files read back through warren."""
    car = tmp_path / "npm.car"
    root = npm_import(node_bin, tree, "--cid-version=1", car=car)
    r = run_warren("dag", "import", car)
    assert r.returncode == 0, r.stderr
    got = subprocess.run([str(WARREN), "cat", f"{root}/a/one.txt"], capture_output=True, text=True)
    assert got.stdout == "one\n"
    r = run_warren("ls", f"{root}/many")
    assert r.returncode == 0 and len(r.stdout.strip().split("\n")) == 6000


def test_car_from_warren_reads_in_npm(warren_bin, node_bin, repo, tree, tmp_path):
    """A CAR exported by warren holds exactly the blocks @ipld/car sees, with
    the right root."""
    root = warren_root("-r", tree)
    car = tmp_path / "w.car"
    with open(car, "wb") as fh:
        r = subprocess.run([str(WARREN), "dag", "export", root], stdout=fh, stderr=subprocess.PIPE,
                           timeout=120)
    assert r.returncode == 0, r.stderr
    script = (
        "import { CarReader } from '@ipld/car';"
        "import { readFile } from 'node:fs/promises';"
        "import { sha256 } from 'multiformats/hashes/sha2';"
        "const r = await CarReader.fromBytes(await readFile(process.argv[1]));"
        "const roots = await r.getRoots(); let n = 0, bad = 0;"
        "for await (const b of r.blocks()) { n++;"
        "  const h = await sha256.digest(b.bytes);"
        "  if (Buffer.compare(Buffer.from(h.digest), Buffer.from(b.cid.multihash.digest))) bad++; }"
        "console.log(roots.map(String).join(','), n, bad);")
    out = subprocess.run([node_bin, "--input-type=module", "-e", script, str(car)], cwd=NPM_DIR,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    roots, n, bad = out.stdout.split()
    assert roots == root
    assert bad == "0"
    # Every block the import made: same count as a fresh --only-hash import.
    assert int(n) > 6000


# --- gateway-conformance fixtures: kubo-made CARs read back --------------------------

GW = ROOT.parent / "shared" / "vectors" / "gateway-conformance"
if not GW.exists():
    GW = pathlib.Path("/work/shared/vectors/gateway-conformance")


def import_car(car):
    r = run_warren("dag", "import", car)
    assert r.returncode == 0, r.stderr
    roots = re.findall(r"Pinned root\s+(\S+)\s+success", r.stdout)
    assert roots, r.stdout
    return roots[0]


def lorem_text():
    """The multi-block text of the fixtures' recipes (the here-document;
    the fixture keeps its blank line, so the text went in quoted)."""
    readme = (GW / "path_gateway_unixfs" / "README.md").read_text()
    body = readme.split("TEXT=$(cat <<-EOF", 1)[1].split("\nEOF", 1)[0]
    return body.lstrip(" ").lstrip("\n")


def test_gateway_symlink_fixture(warren_bin, repo, tmp_path):
    """symlink.car was made by kubo 0.18 from `ipfs add -Qr testfiles`; adding
    the same folder here gives its root, and get restores the symlink."""
    root = import_car(GW / "path_gateway_unixfs" / "symlink.car")
    src = tmp_path / "testfiles"
    src.mkdir()
    (src / "foo").write_text("content\n")
    os.symlink("foo", src / "bar")
    assert warren_root("-r", "-n", src) == root
    out = tmp_path / "out"
    assert run_warren("get", root, "-o", out).returncode == 0
    assert os.readlink(out / "bar") == "foo"
    assert (out / "foo").read_text() == "content\n"


def test_gateway_dir_with_files_fixture(warren_bin, repo, tmp_path):
    root = import_car(GW / "path_gateway_unixfs" / "dir-with-files.car")
    cat = lambda p: subprocess.run([str(WARREN), "cat", f"{root}/{p}"], capture_output=True,
                                   text=True, timeout=30).stdout
    assert cat("hello.txt") == "hello world\n"
    assert cat("ascii.txt") == "hello application/vnd.ipld.car\n"
    text = lorem_text()
    assert cat("multiblock.txt") == text
    # The recipe's `ipfs add --cid-version=1 --chunker=size-256` of the text.
    f = tmp_path / "multiblock.txt"
    f.write_text(text)
    listing = run_warren("ls", root).stdout
    want = [ln.split()[0] for ln in listing.split("\n") if ln.endswith(" multiblock.txt")][0]
    assert warren_root("-n", "--cid-version=1", "--chunker=size-256", f) == want
    # A range inside the 256-byte chunks.
    got = subprocess.run([str(WARREN), "cat", "--offset", "250", "--length", "300",
                          f"{root}/multiblock.txt"], capture_output=True, text=True)
    assert got.stdout == text[250:550]


def test_gateway_hamt_fixture(warren_bin, repo, tmp_path):
    """A kubo-made single-layer HAMT of 1000 multi-block files: listed,
    resolved by name and written out."""
    root = import_car(GW / "trustless_gateway_car" / "single-layer-hamt-with-multi-block-files.car")
    r = run_warren("ls", root)
    assert r.returncode == 0, r.stderr
    names = sorted(ln.split()[-1] for ln in r.stdout.strip().split("\n"))
    assert len(names) == 1000
    text = lorem_text()
    got = subprocess.run([str(WARREN), "cat", f"{root}/{names[500]}"], capture_output=True,
                         text=True)
    assert got.stdout == text
    out = tmp_path / "out"
    assert run_warren("get", root, "-o", out).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == names
    assert all((out / n).read_text() == text for n in names[:50])


def test_progress_bar_only_on_a_terminal(warren_bin, repo, tmp_path):
    import pty
    f = tmp_path / "f"
    f.write_bytes(rand_bytes(3_000_000, 9))
    # stderr a pipe: no bar.
    r = run_warren("add", "-n", f)
    assert r.returncode == 0 and "MiB" not in r.stderr
    # stderr a terminal: the bar is drawn there (and erased before the result line).
    master, slave = pty.openpty()
    p = subprocess.run([str(WARREN), "add", "-n", str(f)], stdout=subprocess.PIPE, stderr=slave,
                       timeout=60)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    assert p.returncode == 0
    assert b"MiB / 2.9 MiB [" in err and b"\r" in err
    assert p.stdout.decode().startswith("added ")
