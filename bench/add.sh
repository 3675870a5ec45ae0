#!/bin/bash
# bench/add.sh: `warren add` speed, side by side in one run with
#   - openssl dgst -sha256 on the same 1 GiB file (the hashing limit: SHA-NI),
#   - the npm reference importer (ipfs-unixfs-importer 17, tests/npm/import.mjs),
# on a 1 GiB file (MB/s) and a tree of 10,000 small files (files/s).
#
#   bench/add.sh [--size-mib N] [--files N] [--dir DIR]
#
# Speeds are given per wall-clock second and per CPU-second (user + system
# of all threads): on a busy machine the second is the fair comparison.
# warren runs twice per input: into a fresh store (blocks written to LMDB,
# root pinned) and with --only-hash. The npm importer hashes into a
# black-hole blockstore, so its figure compares best with --only-hash.
# Every run must give the same root CID; the script fails otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WARREN=$ROOT/build/warren
SIZE_MIB=1024
NFILES=10000
WORK=""
while [ $# -gt 0 ]; do
  case $1 in
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --files) NFILES=$2; shift 2 ;;
    --dir) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "add.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$WARREN" ] || { echo "add.sh: build/warren is missing: run make first" >&2; exit 1; }
if [ ! -d "$ROOT/tests/npm/node_modules/ipfs-unixfs-importer" ]; then
  (cd "$ROOT/tests/npm" && npm ci --no-audit --no-fund >/dev/null)
fi
if [ -z "$WORK" ]; then
  WORK=$(mktemp -d /tmp/warren-bench-add.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"

# Runs a command with its stdout in $WORK/out; prints "WALL CPU": wall-clock
# seconds and CPU seconds (user + system, all threads). On a shared machine
# the CPU figure is the steadier one: other jobs stretch wall time, not CPU.
timed() {
  /usr/bin/python3 - "$WORK/out" "$@" <<'PY'
import resource, subprocess, sys, time
t0 = time.monotonic()
with open(sys.argv[1], "wb") as out:
    subprocess.run(sys.argv[2:], stdout=out, check=True)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.4f} {ru.ru_utime + ru.ru_stime:.4f}")
PY
}

echo "add.sh: making a ${SIZE_MIB} MiB file and a tree of $NFILES small files in $WORK" >&2
BIG=$WORK/big.bin
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$BIG"
TREE=$WORK/tree
rm -rf "$TREE"
/usr/bin/python3 - "$TREE" "$NFILES" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
r = random.Random(1)
per = 100
for i in range(n):
    d = os.path.join(root, f"d{i // per:04d}")
    if i % per == 0:
        os.makedirs(d)
    with open(os.path.join(d, f"f{i % per:03d}.txt"), "wb") as f:
        f.write(r.randbytes(r.randint(100, 4000)))
EOF
# Warm the page cache so every contender reads from memory.
cat "$BIG" >/dev/null
find "$TREE" -type f -exec cat {} + >/dev/null

BYTES=$((SIZE_MIB * 1024 * 1024))
mbs() { awk -v b="$BYTES" -v t="$1" 'BEGIN { printf "%.0f", b / t / 1e6 }'; }
fps() { awk -v n="$NFILES" -v t="$1" 'BEGIN { printf "%.0f", n / t }'; }

t_ssl=$(timed openssl dgst -sha256 "$BIG")
# Writing the bytes once into a fresh file: the page-cache floor any store
# that keeps the data pays on top of hashing.
t_cp=$(timed cp "$BIG" "$WORK/copy.bin"); rm -f "$WORK/copy.bin"
export WARREN_PATH=$WORK/repo
rm -rf "$WARREN_PATH"
t_w=$(timed "$WARREN" add -Q --progress=false "$BIG"); cid_w=$(cat "$WORK/out")
t_wn=$(timed "$WARREN" add -Q -n "$BIG"); cid_wn=$(cat "$WORK/out")
t_npm=$(timed node "$ROOT/tests/npm/import.mjs" "$BIG"); cid_npm=$(cat "$WORK/out")
if [ "$cid_w" != "$cid_npm" ] || [ "$cid_wn" != "$cid_npm" ]; then
  echo "add.sh: root CIDs differ: warren $cid_w / $cid_wn, npm $cid_npm" >&2
  exit 1
fi

rm -rf "$WARREN_PATH"
t_tw=$(timed "$WARREN" add -Q -r --progress=false "$TREE"); tcid_w=$(cat "$WORK/out")
t_twn=$(timed "$WARREN" add -Q -n -r "$TREE"); tcid_wn=$(cat "$WORK/out")
t_tnpm=$(timed node "$ROOT/tests/npm/import.mjs" "$TREE"); tcid_npm=$(cat "$WORK/out")
if [ "$tcid_w" != "$tcid_npm" ] || [ "$tcid_wn" != "$tcid_npm" ]; then
  echo "add.sh: tree root CIDs differ: warren $tcid_w / $tcid_wn, npm $tcid_npm" >&2
  exit 1
fi

wall() { echo "${1% *}"; }
cpu() { echo "${1#* }"; }
cp_=$(mbs "$(wall "$t_cp")"); ccp=$(mbs "$(cpu "$t_cp")")
ssl=$(mbs "$(wall "$t_ssl")"); w=$(mbs "$(wall "$t_w")"); wn=$(mbs "$(wall "$t_wn")"); npm=$(mbs "$(wall "$t_npm")")
cssl=$(mbs "$(cpu "$t_ssl")"); cw=$(mbs "$(cpu "$t_w")"); cwn=$(mbs "$(cpu "$t_wn")"); cnpm=$(mbs "$(cpu "$t_npm")")
tw=$(fps "$(wall "$t_tw")"); twn=$(fps "$(wall "$t_twn")"); tnpm=$(fps "$(wall "$t_tnpm")")
ctw=$(fps "$(cpu "$t_tw")"); ctwn=$(fps "$(cpu "$t_twn")"); ctnpm=$(fps "$(cpu "$t_tnpm")")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

printf '\n## bench/add (%s MiB file, %s files; %s)\n\n' "$SIZE_MIB" "$NFILES" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '| input | contender | wall speed | vs openssl | vs npm | per CPU-second | vs openssl | vs npm |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- |\n'
row() { # label contender wall-speed cpu-speed unit ref-ssl-wall ref-ssl-cpu ref-npm-wall ref-npm-cpu
  local a b c d
  a=$([ -n "$6" ] && ratio "$3" "$6" || echo); b=$(ratio "$3" "$8")
  c=$([ -n "$7" ] && ratio "$4" "$7" || echo); d=$(ratio "$4" "$9")
  printf '| %s | %s | %s %s | %s | %s | %s %s | %s | %s |\n' "$1" "$2" "$3" "$5" "$a" "$b" "$4" "$5" "$c" "$d"
}
F="$SIZE_MIB MiB file"; T="$NFILES small files"
row "$F" "openssl dgst -sha256" "$ssl" "$cssl" MB/s "$ssl" "$cssl" "$npm" "$cnpm"
row "$F" "cp into a fresh file (no hashing)" "$cp_" "$ccp" MB/s "$ssl" "$cssl" "$npm" "$cnpm"
row "$F" "warren add (store + pin)" "$w" "$cw" MB/s "$ssl" "$cssl" "$npm" "$cnpm"
row "$F" "warren add --only-hash" "$wn" "$cwn" MB/s "$ssl" "$cssl" "$npm" "$cnpm"
row "$F" "npm ipfs-unixfs-importer" "$npm" "$cnpm" MB/s "$ssl" "$cssl" "$npm" "$cnpm"
row "$T" "warren add -r (store + pin)" "$tw" "$ctw" files/s "" "" "$tnpm" "$ctnpm"
row "$T" "warren add -r --only-hash" "$twn" "$ctwn" files/s "" "" "$tnpm" "$ctnpm"
row "$T" "npm ipfs-unixfs-importer" "$tnpm" "$ctnpm" files/s "" "" "$tnpm" "$ctnpm"
printf '\nMachine load while measuring (1-minute average): %s on %s CPUs.\n' \
  "$(cut -d' ' -f1 /proc/loadavg)" "$(nproc)"
printf '\nAims: warren add >= 0.70 x openssl on the file; >= 10 x npm on the tree.\n'
printf 'Root CIDs identical across all runs: %s (file), %s (tree).\n' "$cid_w" "$tcid_w"
