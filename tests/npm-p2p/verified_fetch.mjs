// verified_fetch.mjs: npm's @helia/verified-fetch with one trustless
// gateway (warren's edge) as its only source of blocks: a Helia node with no
// libp2p, no delegated routers and no Bitswap, just the trustless-gateway
// block broker, which asks the gateway for ?format=raw blocks and checks each
// against its CID. For warren's gateway interop test (tests/e2e/
// test_verified_fetch.py).
//
//   node verified_fetch.mjs GATEWAY_URL OUTDIR URL...
//       fetches each URL (ipfs://CID/path, or /ipfs/... forms) and prints one
//       JSON line per URL: {"url","status","type","bytes","sha256","file"}
//       with the body written to OUTDIR/<index> and "ms" the time taken; {"url","error"} when
//       verified-fetch throws. Ends with {"done":true,"requests":N}, N being
//       the block requests the gateway broker sent. VF_TIMEOUT_MS bounds each
//       fetch (60 s unless set).
import { createHeliaLight } from 'helia'
import { withHTTP } from '@helia/http'
import { createVerifiedFetchWithHelia } from '@helia/verified-fetch'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const [gateway, outdir, ...urls] = process.argv.slice(2)
const timeout = Number(process.env.VF_TIMEOUT_MS ?? '60000')
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

// Counts the requests that reach the gateway (undici's global fetch, which
// the trustless-gateway broker calls).
let requests = 0
const realFetch = globalThis.fetch
globalThis.fetch = (input, init) => {
  const u = String(input?.url ?? input)
  if (u.startsWith(gateway)) requests++
  return realFetch(input, init)
}

const helia = withHTTP(createHeliaLight({}), {
  delegatedRouters: [],
  recursiveGateways: [gateway],
  allowInsecure: true,
  allowLocal: true
})
// Helia's routing waits forever when every router it has is a fallback
// one (no router ever ends the lookup queue): a router that finds nothing
// lets the lookup end and fall back to the gateway.
helia.addRouter({ name: 'none', async * findProviders () {} })
await helia.start()
const vfetch = await createVerifiedFetchWithHelia(helia)

let i = 0
for (const url of urls) {
  const t0 = Date.now()
  try {
    // AbortSignal.timeout's timer does not keep Node alive, and a fetch
    // whose blocks all fail verification waits on nothing else: a plain
    // timer both keeps the process up and ends the wait.
    let timer
    const res = await Promise.race([
      vfetch(url, { signal: AbortSignal.timeout(timeout) }),
      new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeout} ms`)), timeout + 2000)
      })
    ]).finally(() => clearTimeout(timer))
    const body = new Uint8Array(await res.arrayBuffer())
    const file = join(outdir, String(i++))
    writeFileSync(file, body)
    out({
      url,
      status: res.status,
      type: res.headers.get('content-type'),
      bytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      file,
      ms: Date.now() - t0
    })
  } catch (err) {
    out({ url, error: `${err.name}: ${err.message}`, ms: Date.now() - t0 })
  }
}
out({ done: true, requests })
// Nothing to keep: exit without waiting for the node's shutdown.
process.exit(0)
