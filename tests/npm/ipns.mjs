// ipns.mjs: npm's `ipns` (js-ipns, Helia's IPNS records) as a reference for
// warren's IPNS tests (tests/e2e/test_ipns.py).
//
//   node ipns.mjs validate NAME FILE
//       unmarshal and validate FILE as NAME's record (ipnsValidator with the
//       routing key of NAME); prints the record as JSON, or the error and
//       exits 1.
//   node ipns.mjs create KEYFILE OUT VALUE SEQ LIFETIME_MS [v2only] [ttl_s]
//       signs a record with the Ed25519 key in KEYFILE (made when missing,
//       libp2p PrivateKey protobuf) and writes it to OUT; prints the name
//       (CIDv1 libp2p-key, base36).
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { createIPNSRecord, marshalIPNSRecord, unmarshalIPNSRecord, multihashToIPNSRoutingKey } from 'ipns'
import { ipnsValidator } from 'ipns/validator'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { base36 } from 'multiformats/bases/base36'
import { base32 } from 'multiformats/bases/base32'
import { base58btc } from 'multiformats/bases/base58'

const [cmd, ...args] = process.argv.slice(2)

function nameToMultihash (name) {
  if (name.startsWith('/ipns/')) name = name.slice(6)
  if (name.startsWith('1') || name.startsWith('Q')) {
    return CID.createV0 === undefined ? null : base58btc.baseDecode(name)
  }
  const cid = CID.parse(name, name[0] === 'k' ? base36 : base32)
  if (cid.code !== 0x72) throw new Error('not a libp2p-key CID')
  return cid.multihash
}

if (cmd === 'validate') {
  const [name, file] = args
  const bytes = readFileSync(file)
  try {
    const mh = nameToMultihash(name)
    const key = multihashToIPNSRoutingKey(mh.bytes ? mh : { bytes: mh })
    await ipnsValidator(key, bytes)
    const r = unmarshalIPNSRecord(bytes)
    console.log(JSON.stringify({
      value: r.value,
      sequence: r.sequence.toString(),
      ttl: r.ttl.toString(),
      validity: r.validity,
      v1: r.signatureV1 !== undefined
    }))
  } catch (e) {
    console.log(`invalid: ${e.name}: ${e.message}`)
    process.exit(1)
  }
} else if (cmd === 'create') {
  const [keyfile, out, value, seq, lifetime, mode, ttl] = args
  let key
  if (existsSync(keyfile)) {
    key = privateKeyFromProtobuf(readFileSync(keyfile))
  } else {
    key = await generateKeyPair('Ed25519')
    writeFileSync(keyfile, privateKeyToProtobuf(key))
  }
  const opts = { v1Compatible: mode !== 'v2only' }
  if (ttl) opts.ttlNs = BigInt(ttl) * 1000000000n
  const r = await createIPNSRecord(key, value, BigInt(seq), Number(lifetime), opts)
  writeFileSync(out, marshalIPNSRecord(r))
  console.log(key.publicKey.toCID().toString(base36))
} else {
  console.error('usage: ipns.mjs validate NAME FILE | create KEYFILE OUT VALUE SEQ LIFETIME_MS [v2only|v1] [ttl_s]')
  process.exit(2)
}
