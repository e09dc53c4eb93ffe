// 200 verifications at once finish while the event loop keeps running: registry I/O runs on
// napi's Tokio runtime and verification on its workers, never on the JS thread.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Policy, RegistryClient, Signer, TrustRoot } from 'ironsign'
import { makeImages, makePki, startRegistry } from './helpers.mjs'

const IMAGES = 20
const CONCURRENT = 200
const TICK_MS = 2

let registry, pki, reg, refs
before(async () => {
  registry = startRegistry('concurrency')
  pki = makePki()
  reg = new RegistryClient({ insecureHttp: [registry.addr], configFiles: [] })
  const signer = Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain: pki.read('chain.pem') })
  refs = makeImages(registry.addr, 'app/many', 'v', IMAGES)
  await Promise.all(refs.map((r) => reg.sign(r, signer)))
})
after(() => registry?.stop())

test(`${CONCURRENT} concurrent verifications do not block the event loop`, async () => {
  const trust = TrustRoot.fromPem({ roots: [pki.read('root.pem')] })
  const policy = new Policy({ identity: 'signer@example.com' })
  let ticks = 0
  let last = performance.now()
  let maxGap = 0
  const timer = setInterval(() => {
    const now = performance.now()
    maxGap = Math.max(maxGap, now - last)
    last = now
    ticks++
  }, TICK_MS)
  const start = performance.now()
  let results
  try {
    results = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => reg.verify(refs[i % IMAGES], trust, policy)),
    )
  } finally {
    clearInterval(timer)
  }
  const elapsed = performance.now() - start
  assert.equal(results.length, CONCURRENT)
  for (const [i, r] of results.entries()) {
    assert.equal(r.signatures.length, 1)
    assert.equal(`${r.repository}@${r.digest}`, refs[i % IMAGES].replace(/:v-\d+@/, '@'))
  }
  console.log(`# ${CONCURRENT} verifications in ${elapsed.toFixed(0)} ms; timer ticked ${ticks} times, longest gap ${maxGap.toFixed(1)} ms`)
  // The timer kept firing throughout: many ticks, and never a long stall.
  assert.ok(ticks >= 10, `the timer ticked only ${ticks} times in ${elapsed.toFixed(0)} ms`)
  assert.ok(ticks >= elapsed / (TICK_MS * 25), `${ticks} ticks in ${elapsed.toFixed(0)} ms`)
  assert.ok(maxGap < 250, `the event loop stalled for ${maxGap.toFixed(0)} ms`)
})
