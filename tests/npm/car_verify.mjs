// car_verify.mjs: reads a CAR stream with @ipld/car (the reference reader),
// checks every block's bytes against its CID's multihash (sha2-256 or
// identity), and prints one JSON line: {"version", "roots", "blocks"} with
// the block CIDs in stream order (as base32 CIDv1 and as written). Exits 1
// on a parse error or a block whose bytes do not match its CID.
//
//   node car_verify.mjs FILE      (or - for stdin)
import { createReadStream } from 'node:fs'
import { CarBlockIterator } from '@ipld/car'
import { sha256 } from 'multiformats/hashes/sha2'
import { identity } from 'multiformats/hashes/identity'
import { equals } from 'multiformats/bytes'

const path = process.argv[2]
const input = path === '-' || !path ? process.stdin : createReadStream(path)
try {
  const it = await CarBlockIterator.fromIterable(input)
  const roots = (await it.getRoots()).map(String)
  const blocks = []
  for await (const { cid, bytes } of it) {
    const code = cid.multihash.code
    let digest
    if (code === sha256.code) digest = await sha256.digest(bytes)
    else if (code === identity.code) digest = identity.digest(bytes)
    else throw new Error(`unsupported hash 0x${code.toString(16)} in ${cid}`)
    if (!equals(digest.bytes, cid.multihash.bytes)) throw new Error(`block ${cid} does not match its hash`)
    blocks.push({ cid: cid.toString(), v1: cid.toV1().toString(), size: bytes.length })
  }
  console.log(JSON.stringify({ version: it.version, roots, blocks }))
} catch (e) {
  console.error(`car_verify: ${e.message}`)
  process.exit(1)
}
