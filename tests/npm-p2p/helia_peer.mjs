// helia_peer.mjs: a Helia 7 node (TCP, Noise, yamux, identify, ping and
// @helia/bitswap; no DHT, no discovery, loopback only) for warren's Bitswap
// interop tests. Prints one JSON object per line.
//
//   node helia_peer.mjs serve FILE [--chunk N] [--dial ADDR] [--corrupt]
//       adds FILE (UnixFS, CIDv1 raw leaves, N-byte chunks), prints
//       {"event":"ready","cid","peerId","addrs"}, dials ADDR when given and
//       serves until SIGTERM. --corrupt makes its blockstore hand Bitswap
//       every block with one byte flipped (a peer serving corrupted blocks).
//       --lose-once makes the first Bitswap message with blocks fail as it
//       is sent (as one does that cannot be sent within Helia's 10 s): its
//       blocks never leave, and Helia counts them as sent; prints
//       {"event":"lost","bytes"}.
//   node helia_peer.mjs fetch CID OUT --dial ADDR [--timeout MS]
//       dials ADDR, fetches CID with Bitswap, writes the file to OUT, prints
//       {"event":"fetched","bytes","ms"}.
import { createHeliaLight } from 'helia'
import { withLibp2pLight } from '@helia/libp2p'
import { withBitswap } from '@helia/bitswap'
import { unixfs } from '@helia/unixfs'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { createReadStream, createWriteStream } from 'node:fs'

const args = process.argv.slice(2)
const mode = args[0]
const opt = (name, def) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : def
}
const flag = (name) => args.includes(name)
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

class CorruptBlockstore extends MemoryBlockstore {
  async * get (key, options) {
    for await (const chunk of super.get(key, options)) {
      const copy = Uint8Array.from(chunk)
      if (copy.length > 0) copy[copy.length >> 1] ^= 0x5a
      yield copy
    }
  }
}

async function makeNode () {
  const blockstore = flag('--corrupt') ? new CorruptBlockstore() : new MemoryBlockstore()
  const helia = withBitswap(withLibp2pLight(createHeliaLight({
    blockstore,
    datastore: new MemoryDatastore()
  }), {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() }
  }))
  await helia.start()
  if (flag('--lose-once')) loseOnce(helia.libp2p)
  return helia
}

// Bitswap opens a stream per message it sends: the first large write on one
// (blocks, not presences) throws, which Bitswap handles as a failed send.
function loseOnce (libp2p) {
  const dialProtocol = libp2p.dialProtocol.bind(libp2p)
  let lost = false
  libp2p.dialProtocol = async (...args) => {
    const stream = await dialProtocol(...args)
    if (!lost) {
      const send = stream.send.bind(stream)
      stream.send = (buf) => {
        if (!lost && buf.byteLength > 65536) {
          lost = true
          out({ event: 'lost', bytes: buf.byteLength })
          throw new Error('message lost on purpose (--lose-once)')
        }
        return send(buf)
      }
    }
    return stream
  }
}

async function main () {
  const helia = await makeNode()
  const fs = unixfs(helia)
  const stop = async () => {
    try { await helia.stop() } catch {}
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  const dial = opt('--dial')
  if (mode === 'serve') {
    const chunk = Number(opt('--chunk', '262144'))
    const cid = await fs.addByteStream(createReadStream(args[1]), {
      chunker: fixedSize({ chunkSize: chunk }),
      rawLeaves: true,
      cidVersion: 1
    })
    if (dial) await helia.libp2p.dial(multiaddr(dial))
    out({
      event: 'ready',
      cid: cid.toString(),
      peerId: helia.libp2p.peerId.toString(),
      addrs: helia.libp2p.getMultiaddrs().map(String)
    })
    return // serves until SIGTERM
  }
  if (mode === 'fetch') {
    const cid = CID.parse(args[1])
    const t0 = Date.now()
    await helia.libp2p.dial(multiaddr(dial))
    const signal = AbortSignal.timeout(Number(opt('--timeout', '60000')))
    const w = createWriteStream(args[2])
    let bytes = 0
    for await (const buf of fs.cat(cid, { signal })) {
      bytes += buf.length
      if (!w.write(buf)) await new Promise((resolve) => w.once('drain', resolve))
    }
    await new Promise((resolve) => w.end(resolve))
    out({ event: 'fetched', bytes, ms: Date.now() - t0 })
    await stop()
  }
  throw new Error(`unknown mode ${mode}`)
}

main().catch((err) => {
  out({ event: 'error', error: String(err && err.stack ? err.stack : err) })
  process.exit(1)
})
