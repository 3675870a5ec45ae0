// peer.mjs: a js-libp2p peer (TCP, Noise, yamux, QUIC, identify, ping) for
// warren's interop tests. Prints one JSON object per line.
//
//   node peer.mjs listen [--quic]        listen on 127.0.0.1 (TCP, or QUIC with --quic),
//                                        serve echo, run until SIGTERM
//   node peer.mjs dial ADDR [--ping N] [--streams N --bytes B] [--stay MS] [--garbage]
//
// Both transports are always available for dialling: a /udp/P/quic-v1
// address goes over @chainsafe/libp2p-quic, a /tcp one over TCP+Noise+yamux.
//
// Both modes serve /warren/echo/1.0.0 (bytes back, close for close). dial
// waits for identify, pings, then runs N echo streams at once, each sending
// B random bytes and checking the echo byte for byte. --garbage
// makes the yamux muxer write junk into the encrypted connection right after
// the upgrade, so the peer sees valid Noise carrying invalid yamux.
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { quic } from '@chainsafe/libp2p-quic'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import { randomBytes } from 'node:crypto'

const ECHO = '/warren/echo/1.0.0'
const args = process.argv.slice(2)
const mode = args[0]
const opt = (name, def) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : def
}
const flag = (name) => args.includes(name)
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

function garbageYamux () {
  return (components) => {
    const real = yamux()(components)
    return {
      protocol: real.protocol,
      [Symbol.toStringTag]: 'garbage-yamux',
      createStreamMuxer (maConn) {
        const m = real.createStreamMuxer(maConn)
        setTimeout(() => {
          try {
            maConn.send(new TextEncoder().encode('GET / HTTP/1.1\r\nthis is not yamux at all\r\n\r\n'))
            out({ event: 'garbage-sent' })
          } catch (err) {
            out({ event: 'garbage-error', error: String(err) })
          }
        }, 200)
        return m
      }
    }
  }
}

async function echoHandler (stream) {
  try {
    for await (const chunk of stream) {
      const bytes = chunk.subarray ? chunk.subarray() : chunk
      if (!stream.send(bytes)) await stream.onDrain()
    }
    await stream.close()
  } catch (err) {
    stream.abort(err)
  }
}

const node = await createLibp2p({
  addresses: {
    listen: mode === 'listen' ? [flag('--quic') ? '/ip4/127.0.0.1/udp/0/quic-v1' : '/ip4/127.0.0.1/tcp/0'] : []
  },
  transports: [tcp(), quic()],
  connectionEncrypters: [noise()],
  streamMuxers: [flag('--garbage') ? garbageYamux() : yamux()],
  services: { identify: identify(), ping: ping() },
  connectionManager: { maxConnections: 1000 }
})
await node.handle(ECHO, echoHandler, { maxInboundStreams: 1024, maxOutboundStreams: 1024 })

node.addEventListener('peer:identify', (e) => {
  const r = e.detail
  out({
    event: 'identify',
    peer: r.peerId.toString(),
    agent: r.agentVersion,
    protocolVersion: r.protocolVersion,
    protocols: r.protocols,
    listenAddrs: r.listenAddrs.map(String),
    observedAddr: r.observedAddr ? String(r.observedAddr) : null
  })
})
node.addEventListener('connection:open', (e) => {
  out({ event: 'connection:open', peer: e.detail.remotePeer.toString(), remote: String(e.detail.remoteAddr) })
})
node.addEventListener('connection:close', (e) => {
  out({ event: 'connection:close', peer: e.detail.remotePeer.toString() })
})

out({ event: 'started', id: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })

async function runStreams (conn, n, bytes) {
  const t0 = Date.now()
  const one = async (i) => {
    const stream = await conn.newStream(ECHO, { maxOutboundStreams: 1024 })
    const data = new Uint8Array(randomBytes(bytes))
    const reader = (async () => {
      const got = new Uint8Array(bytes)
      let n = 0
      for await (const chunk of stream) {
        const c = chunk.subarray ? chunk.subarray() : chunk
        if (n + c.length > bytes) throw new Error(`stream ${i}: more bytes back than sent`)
        got.set(c, n)
        n += c.length
      }
      if (n !== bytes) throw new Error(`stream ${i}: ${n} of ${bytes} bytes back`)
      for (let k = 0; k < bytes; k++) if (got[k] !== data[k]) throw new Error(`stream ${i}: byte ${k} differs`)
    })()
    for (let off = 0; off < bytes; off += 16384) {
      if (!stream.send(data.subarray(off, Math.min(bytes, off + 16384)))) await stream.onDrain()
    }
    await stream.close()
    await reader
  }
  const res = await Promise.allSettled(Array.from({ length: n }, (_, i) => one(i)))
  const failed = res.filter((r) => r.status === 'rejected')
  out({ event: 'streams', n, bytes, ok: n - failed.length, failed: failed.length, errors: failed.slice(0, 3).map((r) => String(r.reason)), ms: Date.now() - t0 })
  return failed.length === 0
}

if (mode === 'dial') {
  const ma = multiaddr(args[1])
  let ok = true
  const identified = new Promise((resolve) => {
    node.addEventListener('peer:identify', () => resolve(), { once: true })
  })
  const conn = await node.dial(ma)
  await Promise.race([identified, new Promise((resolve) => setTimeout(resolve, 5000))])
  const pings = Number(opt('--ping', '0'))
  for (let i = 0; i < pings; i++) {
    const rtt = await node.services.ping.ping(ma)
    out({ event: 'ping', i: i + 1, rtt_ms: rtt })
  }
  const n = Number(opt('--streams', '0'))
  if (n > 0) ok = await runStreams(conn, n, Number(opt('--bytes', '65536')))
  const stay = Number(opt('--stay', '0'))
  if (stay > 0) {
    out({ event: 'staying', ms: stay })
    await new Promise((resolve) => setTimeout(resolve, stay))
  }
  if (flag('--garbage')) {
    // Wait for the peer to drop us.
    const deadline = Date.now() + 5000
    while (conn.status === 'open' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    out({ event: 'after-garbage', status: conn.status })
  }
  await node.stop()
  out({ event: 'done', ok })
  process.exit(ok ? 0 : 1)
} else {
  const stop = async () => {
    await node.stop()
    out({ event: 'stopped' })
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
