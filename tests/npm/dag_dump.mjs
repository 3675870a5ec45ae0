// dag_dump.mjs: the structure of every block in a CAR, read with the reference
// decoders (@ipld/car, @ipld/dag-pb, @ipld/dag-cbor, ipfs-unixfs), as JSON:
// {"roots": [...], "blocks": {CID: {"codec", "type", "fanout", "links": [[name, CID], ...],
// "data"}}} (CIDs as written in the CAR; type is the UnixFS type name for dag-pb; data, in
// base64, the bytes of a raw block or the UnixFS Data of a dag-pb node, so a test can put a
// file back together without warren's exporter).
//
//   node dag_dump.mjs FILE.car
import { readFile } from 'node:fs/promises'
import { CarReader } from '@ipld/car'
import * as dagPB from '@ipld/dag-pb'
import * as dagCBOR from '@ipld/dag-cbor'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'

function cborLinks (v, out) {
  const c = CID.asCID(v)
  if (c) { out.push(['', c.toString()]); return }
  if (Array.isArray(v)) { for (const x of v) cborLinks(x, out); return }
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    for (const k of Object.keys(v)) cborLinks(v[k], out)
  }
}

const reader = await CarReader.fromBytes(await readFile(process.argv[2]))
const blocks = {}
for await (const { cid, bytes } of reader.blocks()) {
  const b = { codec: cid.code, type: null, fanout: null, links: [], data: '' }
  if (cid.code === 0x55) b.data = Buffer.from(bytes).toString('base64')
  if (cid.code === dagPB.code) {
    const node = dagPB.decode(bytes)
    b.links = node.Links.map(l => [l.Name ?? '', l.Hash.toString()])
    if (node.Data) {
      const u = UnixFS.unmarshal(node.Data)
      b.type = u.type
      b.fanout = u.fanout === undefined ? null : Number(u.fanout)
      if (u.data) b.data = Buffer.from(u.data).toString('base64')
    }
  } else if (cid.code === dagCBOR.code) {
    cborLinks(dagCBOR.decode(bytes), b.links)
  }
  blocks[cid.toString()] = b
}
console.log(JSON.stringify({ roots: (await reader.getRoots()).map(String), blocks }))
