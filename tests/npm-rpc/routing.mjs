// Drives a warren daemon's routing commands with npm's kubo-rpc-client.
// Usage: node routing.mjs API_URL CID OTHER_PEER_ID PEER_ID PUBKEY_BASE64
// (CID is held by the daemon; OTHER_PEER_ID a peer of its DHT; PEER_ID is
// the daemon's own and PUBKEY its key.)
// Prints one JSON object with what the client got back; the test decides.
import { create, CID } from 'kubo-rpc-client'

const [url, cidText, other, peer, pkB64] = process.argv.slice(2)
const ipfs = create({ url })
const cid = CID.parse(cidText)
const out = { provide: [], provs: [], peer: null, put: [], get: null }
for await (const ev of ipfs.routing.provide(cid)) out.provide.push(ev.name)
for await (const ev of ipfs.routing.findProvs(cid)) {
  if (ev.name === 'PROVIDER') for (const p of ev.providers) out.provs.push({ id: p.id.toString(), addrs: p.multiaddrs.map(String) })
}
for await (const ev of ipfs.routing.findPeer(other)) {
  if (ev.name === 'FINAL_PEER') out.peer = { id: ev.peer.id.toString(), addrs: ev.peer.multiaddrs.map(String) }
}
const key = `/pk/${peer}`
for await (const ev of ipfs.routing.put(key, Buffer.from(pkB64, 'base64'))) out.put.push(ev.name)
for await (const ev of ipfs.routing.get(key)) {
  if (ev.name === 'VALUE') out.get = Buffer.from(ev.value).toString('base64')
}
console.log(JSON.stringify(out))
