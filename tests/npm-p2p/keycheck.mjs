// keycheck.mjs KEYFILE PUBKEY_B64: prints the peer IDs js-libp2p derives
// from warren's key file (a PrivateKey protobuf) and from `warren id`'s
// PublicKey, as JSON.
import { readFileSync } from 'node:fs'
import { privateKeyFromProtobuf, publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromPublicKey } from '@libp2p/peer-id'

const priv = privateKeyFromProtobuf(readFileSync(process.argv[2]))
const pub = publicKeyFromProtobuf(Buffer.from(process.argv[3], 'base64'))
process.stdout.write(JSON.stringify({
  fromPrivateKey: peerIdFromPrivateKey(priv).toString(),
  fromPublicKey: peerIdFromPublicKey(pub).toString(),
  type: priv.type
}) + '\n')
