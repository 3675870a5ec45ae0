// helia_dht.mjs: a Helia 7 node that finds content through the DHT, for
// warren's DHT-and-Bitswap interop tests (tests/e2e/test_dht_interop.py):
// TCP, Noise, yamux, identify, ping, @helia/bitswap and @libp2p/kad-dht with
// the Amino protocol (/ipfs/kad/1.0.0) in server mode, keeping loopback
// addresses (Amino's default mapper drops private ones), with the /ipns/
// validator and selector of npm's `ipns`. It has no bootstrap list, no
// discovery and no peer but those it is told to dial. Reads commands from
// stdin, one per line, and answers with JSON lines like dht.mjs ("n" is the
// command's number):
//   dial MULTIADDR           connect; waits for the peer in the routing table
//   add FILE [CHUNK]         UnixFS, CIDv1, raw leaves, CHUNK-byte chunks
//   provide CID              helia.routing.provide (the DHT)
//   fetch CID OUT [MS]       cat through Bitswap (providers from the DHT) to OUT
//   peers                    the peers connected now
//   put-ipns VALUE SEQ       a fresh Ed25519 key signs a record (npm ipns)
//                            which is put into the DHT: {name, record (hex)}
//   put-raw NAME HEX         puts bytes as /ipns/NAME unchecked (a forgery)
//   get-ipns NAME            the record got from the DHT, validated with
//                            npm ipns's validator: {record (hex), value, sequence}
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
import { kadDHT } from '@libp2p/kad-dht'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { base36 } from 'multiformats/bases/base36'
import { createIPNSRecord, marshalIPNSRecord, unmarshalIPNSRecord, multihashToIPNSRoutingKey } from 'ipns'
import { ipnsValidator } from 'ipns/validator'
import { ipnsSelector } from 'ipns/selector'
import { createReadStream, createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const hex = (b) => Buffer.from(b).toString('hex')

const helia = withBitswap(withLibp2pLight(createHeliaLight({
  blockstore: new MemoryBlockstore(),
  datastore: new MemoryDatastore()
}), {
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({
      protocol: '/ipfs/kad/1.0.0',
      clientMode: false,
      peerInfoMapper: (p) => p,
      validators: { ipns: ipnsValidator },
      selectors: { ipns: ipnsSelector }
    })
  }
}))
await helia.start()
const libp2p = helia.libp2p
const dht = libp2p.services.dht
const fs = unixfs(helia)

out({ event: 'started', id: libp2p.peerId.toString(), addrs: libp2p.getMultiaddrs().map(String) })

function routingKey (name) {
  return multihashToIPNSRoutingKey(CID.parse(name, base36).multihash)
}

async function run (n, argv) {
  const t0 = Date.now()
  const cmd = argv[0]
  try {
    if (cmd === 'dial') {
      await libp2p.dial(multiaddr(argv[1]))
      const deadline = Date.now() + 5000
      while (dht.routingTable.size === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
      out({ n, cmd, table: dht.routingTable.size, ms: Date.now() - t0 })
    } else if (cmd === 'add') {
      const cid = await fs.addByteStream(createReadStream(argv[1]), {
        chunker: fixedSize({ chunkSize: Number(argv[2] ?? '262144') }),
        rawLeaves: true,
        cidVersion: 1
      })
      out({ n, cmd, cid: cid.toString(), ms: Date.now() - t0 })
    } else if (cmd === 'provide') {
      await helia.routing.provide(CID.parse(argv[1]))
      out({ n, cmd, ok: true, ms: Date.now() - t0 })
    } else if (cmd === 'fetch') {
      const signal = AbortSignal.timeout(Number(argv[3] ?? '60000'))
      const w = createWriteStream(argv[2])
      let bytes = 0
      for await (const buf of fs.cat(CID.parse(argv[1]), { signal })) {
        bytes += buf.length
        if (!w.write(buf)) await new Promise((resolve) => w.once('drain', resolve))
      }
      await new Promise((resolve) => w.end(resolve))
      out({ n, cmd, bytes, ms: Date.now() - t0 })
    } else if (cmd === 'peers') {
      out({ n, cmd, peers: libp2p.getPeers().map(String) })
    } else if (cmd === 'put-ipns') {
      const key = await generateKeyPair('Ed25519')
      const record = await createIPNSRecord(key, argv[1], BigInt(argv[2]), 3600_000)
      const bytes = marshalIPNSRecord(record)
      const name = key.publicKey.toCID().toString(base36)
      let acks = 0
      for await (const ev of dht.put(routingKey(name), bytes)) {
        if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'PUT_VALUE') acks++
      }
      out({ n, cmd, name, record: hex(bytes), acks, ms: Date.now() - t0 })
    } else if (cmd === 'put-raw') {
      let acks = 0
      const errors = []
      for await (const ev of dht.put(routingKey(argv[1]), Buffer.from(argv[2], 'hex'))) {
        if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'PUT_VALUE') acks++
        if (ev.name === 'QUERY_ERROR') errors.push(String(ev.error))
      }
      out({ n, cmd, acks, errors, ms: Date.now() - t0 })
    } else if (cmd === 'get-ipns') {
      const key = routingKey(argv[1])
      let bytes = null
      for await (const ev of dht.get(key)) {
        if (ev.name === 'VALUE') { bytes = ev.value; break }
      }
      if (bytes == null) throw new Error('no record found')
      await ipnsValidator(key, bytes)
      const r = unmarshalIPNSRecord(bytes)
      out({ n, cmd, record: hex(bytes), value: r.value, sequence: r.sequence.toString(), ms: Date.now() - t0 })
    } else {
      out({ n, cmd, error: 'unknown command' })
    }
  } catch (err) {
    out({ n, cmd, error: `${err.name}: ${err.message}`, ms: Date.now() - t0 })
  }
}

let seq = 0
const rl = createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const argv = line.trim().split(/\s+/).filter(Boolean)
  if (argv.length) run(++seq, argv)
})
const stop = async () => {
  try { await helia.stop() } catch {}
  process.exit(0)
}
rl.on('close', stop)
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
