// dht.mjs: a js-libp2p node running @libp2p/kad-dht with the Amino protocol
// (/ipfs/kad/1.0.0) in server mode, for warren's DHT interop tests. It
// keeps loopback addresses (the default mapper for Amino drops private
// ones), never bootstraps on its own, and reads commands from stdin, one
// per line, answering with JSON lines:
//   dial MULTIADDR       connect (identify then puts a DHT server in the table)
//   provide CID          announce us as provider
//   findprovs CID [MAX]  providers as found, then a done line
//   findpeer PEERID      the peer's addresses
//   table                routing table size
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { createInterface } from 'node:readline'

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

const node = await createLibp2p({
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
      allowQueryWithZeroPeers: true
    })
  },
  connectionManager: { maxConnections: 1000 }
})
const dht = node.services.dht

out({ event: 'started', id: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })

async function run (n, argv) {
  const t0 = Date.now()
  const cmd = argv[0]
  try {
    if (cmd === 'dial') {
      await node.dial(multiaddr(argv[1]))
      // give identify and the routing table's new-contact ping a moment
      const deadline = Date.now() + 5000
      while (dht.routingTable.size === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
      out({ n, cmd, table: dht.routingTable.size, ms: Date.now() - t0 })
    } else if (cmd === 'provide') {
      let peers = 0
      for await (const ev of dht.provide(CID.parse(argv[1]))) {
        if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'ADD_PROVIDER') peers++
      }
      out({ n, cmd, ok: true, ms: Date.now() - t0 })
    } else if (cmd === 'findprovs') {
      const max = Number(argv[2] ?? '20')
      const seen = new Set()
      for await (const ev of dht.findProviders(CID.parse(argv[1]))) {
        if (ev.name !== 'PROVIDER') continue
        for (const p of ev.providers) {
          const id = p.id.toString()
          if (seen.has(id)) continue
          seen.add(id)
          out({ n, cmd, provider: { id, addrs: p.multiaddrs.map(String) }, ms: Date.now() - t0 })
        }
        if (seen.size >= max) break
      }
      out({ n, cmd, done: true, count: seen.size, ms: Date.now() - t0 })
    } else if (cmd === 'findpeer') {
      let found = null
      for await (const ev of dht.findPeer(peerIdFromString(argv[1]))) {
        if (ev.name === 'FINAL_PEER') { found = ev.peer; break }
      }
      out({ n, cmd, peers: found ? [{ id: found.id.toString(), addrs: found.multiaddrs.map(String) }] : [], ms: Date.now() - t0 })
    } else if (cmd === 'table') {
      out({ n, cmd, table: dht.routingTable.size })
    } else {
      out({ n, cmd, error: 'unknown command' })
    }
  } catch (err) {
    out({ n, cmd, error: String(err), ms: Date.now() - t0 })
  }
}

let seq = 0
const rl = createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const argv = line.trim().split(/\s+/).filter(Boolean)
  if (argv.length) run(++seq, argv)
})
const stop = async () => {
  await node.stop()
  process.exit(0)
}
rl.on('close', stop)
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
