// Drives a warren daemon's peer commands with npm's kubo-rpc-client, as a kubo
// user would. Usage: node swarm.mjs API_URL PEER_MULTIADDR
// Prints one JSON object with what the client got back; the test decides.
import { create, multiaddr } from 'kubo-rpc-client'

const [url, addr] = process.argv.slice(2)
const ipfs = create({ url })
const ma = multiaddr(addr)
const peer = addr.split('/p2p/')[1]
const out = {}

const id = await ipfs.id()
out.id = { id: id.id.toString(), addresses: id.addresses.map(String), protocols: id.protocols }
await ipfs.swarm.connect(ma)
out.peers = (await ipfs.swarm.peers()).map((p) => ({ addr: String(p.addr), peer: p.peer.toString() }))
out.pings = []
for await (const p of ipfs.ping(peer, { count: 3 })) out.pings.push({ success: p.success, time: p.time, text: p.text })
const other = await ipfs.id({ peerId: peer })
out.other = { id: other.id.toString(), agent: other.agentVersion, protocols: other.protocols }
await ipfs.swarm.disconnect(ma)
out.after = (await ipfs.swarm.peers()).length
console.log(JSON.stringify(out))
