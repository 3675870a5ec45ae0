// import.mjs: the npm reference importer (ipfs-unixfs-importer) run on a file
// or a folder; prints the root CID on stdout, and with --car FILE also writes
// every block it made to a CAR file (with @ipld/car).
//
//   node import.mjs [options] PATH
//     --cid-version=0|1     default 0 (kubo's default)
//     --raw-leaves=true|false  default: false for CIDv0, true for CIDv1 (as kubo)
//     --chunk-size=N        default 262144
//     --max-children=N      links per file node, default 174
//     --trickle             trickle layout instead of balanced
//     --profile=NAME        unixfs-v1-2025 or unixfs-v0-2015 (the importer's presets)
//     --hidden              include names starting with "."
//     --car=FILE            write the blocks and the root to a CAR file
//     --stats               print "files N seconds S" on stderr
//     --all                 print "<cid> <path>" for every entry (then the root alone last)
//
// Folders are walked like `kubo add -r`: regular files, folders and symlinks
// (stored as UnixFS symlinks, not followed). Every file is streamed.
import { createReadStream, createWriteStream } from 'node:fs'
import { lstat, readdir, readlink } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { Readable } from 'node:stream'
import { CarWriter } from '@ipld/car'
import { BlackHoleBlockstore } from 'blockstore-core/black-hole'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced, trickle } from 'ipfs-unixfs-importer/layout'

function parseArgs (argv) {
  const o = { hidden: false, trickle: false }
  const rest = []
  for (const a of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a)
    if (!m) { rest.push(a); continue }
    const [, k, v] = m
    switch (k) {
      case 'cid-version': o.cidVersion = Number(v); break
      case 'raw-leaves': o.rawLeaves = v === undefined || v === 'true'; break
      case 'chunk-size': o.chunkSize = Number(v); break
      case 'max-children': o.maxChildren = Number(v); break
      case 'trickle': o.trickle = true; break
      case 'profile': o.profile = v; break
      case 'hidden': o.hidden = true; break
      case 'car': o.car = v; break
      case 'stats': o.stats = true; break
      case 'all': o.all = true; break
      default: throw new Error(`unknown option --${k}`)
    }
  }
  if (rest.length !== 1) throw new Error('usage: node import.mjs [options] PATH')
  o.path = rest[0]
  return o
}

// Keeps every block with its full CID (codec included) for the CAR file, in
// the order the importer wrote them.
class RecordingBlockstore {
  constructor () { this.blocks = new Map() }
  put (cid, bytes) { this.blocks.set(cid.toString(), { cid, bytes }); return cid }
  has (cid) { return this.blocks.has(cid.toString()) }
  async * get (cid) { yield this.blocks.get(cid.toString()).bytes }
}

async function * walk (fsPath, importPath, hidden) {
  const st = await lstat(fsPath)
  if (st.isSymbolicLink()) {
    yield { path: importPath, link: await readlink(fsPath) }
  } else if (st.isDirectory()) {
    yield { path: importPath }
    const names = (await readdir(fsPath)).sort()
    for (const n of names) {
      if (!hidden && n.startsWith('.')) continue
      yield * walk(join(fsPath, n), `${importPath}/${n}`, hidden)
    }
  } else if (st.isFile()) {
    yield { path: importPath, content: createReadStream(fsPath, { highWaterMark: 1 << 20 }) }
  }
}

async function main () {
  const o = parseArgs(process.argv.slice(2))
  const opts = {}
  if (o.profile) {
    opts.profile = o.profile
  } else {
    const v = o.cidVersion ?? 0
    opts.cidVersion = v
    opts.rawLeaves = o.rawLeaves ?? (v === 1)
    opts.reduceSingleLeafToSelf = true
    const chunkSize = o.chunkSize ?? 262144
    const maxChildrenPerNode = o.maxChildren ?? 174
    opts.chunker = fixedSize({ chunkSize })
    opts.layout = o.trickle ? trickle({ maxChildrenPerNode }) : balanced({ maxChildrenPerNode })
  }
  // kubo's trickle builder always makes a root node, even over a single leaf.
  // and its dag-pb leaves are UnixFS type Raw, not File.
  if (o.trickle) { opts.reduceSingleLeafToSelf = false; opts.leafType = 'raw' }
  {
  }
  if (o.profile && o.trickle) opts.layout = trickle({ maxChildrenPerNode: 1024 })
  if (o.profile && o.rawLeaves !== undefined) opts.rawLeaves = o.rawLeaves
  if (o.profile && o.cidVersion !== undefined) opts.cidVersion = o.cidVersion

  const blockstore = o.car ? new RecordingBlockstore() : new BlackHoleBlockstore()
  const st = await lstat(o.path)
  const name = basename(o.path)
  const source = st.isDirectory() || st.isSymbolicLink()
    ? walk(o.path, name, o.hidden)
    : [{ path: name, content: createReadStream(o.path, { highWaterMark: 1 << 20 }) }]

  const t0 = process.hrtime.bigint()
  let root = null
  let files = 0
  for await (const entry of importer(source, blockstore, opts)) {
    if (entry.path === name) root = entry
    if (o.all) console.log(`${entry.cid.toString()} ${entry.path}`)
    if (entry.unixfs?.type === 'file' || entry.unixfs === undefined) files++
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  if (!root) throw new Error('the importer yielded no root')
  console.log(root.cid.toString())
  if (o.stats) console.error(`files ${files} seconds ${secs.toFixed(3)}`)

  if (o.car) {
    const { writer, out } = CarWriter.create([root.cid])
    const done = new Promise((resolve, reject) => {
      Readable.from(out).pipe(createWriteStream(o.car)).on('finish', resolve).on('error', reject)
    })
    for (const block of blockstore.blocks.values()) {
      await writer.put(block)
    }
    await writer.close()
    await done
  }
}

main().catch((err) => {
  console.error(`import.mjs: ${err.message}`)
  process.exit(1)
})
