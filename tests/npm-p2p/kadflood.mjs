// kadflood.mjs: a js-libp2p peer that floods a DHT server, for warren's
// test of its per-peer buffer budget: it dials ADDR and opens N streams on
// the kad protocol at once; each announces one message of B bytes (the
// varint length prefix) and sends B zero bytes without reading anything.
// Prints one JSON line: {"event":"flood","streams":N,"bytes":B,"completed":C,
// "failed":F,"ms":T} (a stream the server reset counts as failed).
//
//   node kadflood.mjs ADDR [--streams N] [--bytes B] [--protocol P]
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'

const args = process.argv.slice(2)
const opt = (name, def) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : def
}
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const streams = Number(opt('--streams', '16'))
const bytes = Number(opt('--bytes', String(4 * 1024 * 1024 - 1)))
const protocol = opt('--protocol', '/ipfs/kad/1.0.0')

function varint (n) {
  const b = []
  while (n >= 0x80) {
    b.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  b.push(n)
  return new Uint8Array(b)
}

const node = await createLibp2p({
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify() }
})
const conn = await node.dial(multiaddr(args[0]))
const zeros = new Uint8Array(65536)
const t0 = Date.now()

async function one () {
  const stream = await conn.newStream(protocol, { maxOutboundStreams: 1024 })
  if (!stream.send(varint(bytes))) await stream.onDrain()
  for (let sent = 0; sent < bytes; sent += zeros.length) {
    const n = Math.min(zeros.length, bytes - sent)
    if (!stream.send(zeros.subarray(0, n))) await stream.onDrain()
  }
  await stream.close()
}

const limit = new Promise((resolve, reject) => setTimeout(() => reject(new Error('timeout')), 60000))
const res = await Promise.allSettled(Array.from({ length: streams }, () => Promise.race([one(), limit])))
const failed = res.filter((r) => r.status === 'rejected')
out({ event: 'flood', streams, bytes, completed: streams - failed.length, failed: failed.length, errors: failed.slice(0, 2).map((r) => r.reason && r.reason.type ? `${r.reason.type} event` : String(r.reason)), ms: Date.now() - t0 })
await node.stop()
process.exit(0)
