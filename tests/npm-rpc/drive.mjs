// Drives warren's RPC API with npm's kubo-rpc-client, as a kubo user would.
// Usage: node drive.mjs API_URL DIR
// DIR holds the inputs (one.txt, big.bin, tree/...); prints one JSON object
// with what the client got back, for tests/e2e/test_rpc_daemon.py to check
// against the store's own answers. Nothing here decides pass or fail.
import { readFile, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { create } from 'kubo-rpc-client'

const [url, dir] = process.argv.slice(2)
const ipfs = create({ url })
const out = {}

async function bytesOf (it) {
  const parts = []
  for await (const b of it) parts.push(Buffer.from(b))
  return Buffer.concat(parts)
}

async function walk (root, rel) {
  const entries = []
  for (const name of (await readdir(join(root, rel))).sort()) {
    const p = join(rel, name)
    const st = await stat(join(root, p))
    if (st.isDirectory()) entries.push(...await walk(root, p))
    else entries.push({ path: p, content: await readFile(join(root, p)) })
  }
  return entries
}

out.version = (await ipfs.version()).version

const one = await readFile(join(dir, 'one.txt'))
const a0 = await ipfs.add(one)
out.add_v0 = { cid: a0.cid.toString(), size: a0.size }
const a1 = await ipfs.add(one, { cidVersion: 1 })
out.add_v1 = { cid: a1.cid.toString(), size: a1.size }
const big = await readFile(join(dir, 'big.bin'))
const ab = await ipfs.add(big, { rawLeaves: true, chunker: 'size-65536' })
out.add_big = { cid: ab.cid.toString() }
out.added_tree = []
for await (const e of ipfs.addAll(await walk(dir, 'tree'), { wrapWithDirectory: true })) {
  out.added_tree.push({ path: e.path, cid: e.cid.toString() })
}

out.cat_one = (await bytesOf(ipfs.cat(a0.cid))).toString('base64')
out.cat_big_sha = (await import('node:crypto')).createHash('sha256')
  .update(await bytesOf(ipfs.cat(ab.cid))).digest('hex')
out.cat_range = (await bytesOf(ipfs.cat(ab.cid, { offset: 70000, length: 1000 }))).toString('base64')

out.pins = []
for await (const p of ipfs.pin.ls()) out.pins.push({ cid: p.cid.toString(), type: p.type })

out.block_get = Buffer.from(await ipfs.block.get(a1.cid)).toString('base64')
const st = await ipfs.block.stat(a1.cid)
out.block_stat = { cid: st.cid.toString(), size: st.size }
const put = await ipfs.block.put(new TextEncoder().encode('a raw block from kubo-rpc-client'))
out.block_put = put.toString()

out.dag_export = (await bytesOf(ipfs.dag.export(ab.cid))).toString('base64')

const root = out.added_tree[out.added_tree.length - 1].cid
out.get_tar = (await bytesOf(ipfs.get(`${root}/tree`))).toString('base64')
out.ls = []
for await (const e of ipfs.ls(root)) out.ls.push({ name: e.name, type: e.type, cid: e.cid.toString(), size: e.size })

await ipfs.pin.rm(a0.cid)
out.pins_after_rm = []
for await (const p of ipfs.pin.ls({ type: 'recursive' })) out.pins_after_rm.push(p.cid.toString())
out.pin_add = (await ipfs.pin.add(a0.cid)).toString()

out.dag_import = []
for await (const r of ipfs.dag.import([await readFile(join(dir, 'import.car'))], { pinRoots: true })) {
  out.dag_import.push({ cid: r.root.cid.toString(), err: r.root.pinErrorMsg })
}

out.gc = []
for await (const r of ipfs.repo.gc()) out.gc.push(r.err ? `error: ${r.err.message}` : r.cid.toString())

try {
  // Nobody has it: the daemon asks the network until the timeout.
  await bytesOf(ipfs.cat('QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n', { timeout: 1000 }))
  out.cat_missing = 'no error'
} catch (e) {
  out.cat_missing = e.message
}
try {
  const id = await ipfs.id()
  out.id = { ok: true, id: id.id.toString() }
} catch (e) {
  out.id = { ok: false, error: e.message }
}
console.log(JSON.stringify(out))
