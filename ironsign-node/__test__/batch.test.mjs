// Batch verification (`verifyMany`): one client and one verifier for many images, one entry per
// image in order, a failing image reported by its error beside the others' results.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Policy, RegistryClient, Signer, TrustRoot } from 'ironsign'
import { makeImage, makePki, rejectsWith, startRegistry } from './helpers.mjs'

let registry, pki, reg, signer, trust, policy
before(() => {
  registry = startRegistry('batch')
  pki = makePki()
  reg = new RegistryClient({ insecureHttp: [registry.addr], configFiles: [] })
  signer = Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain: pki.read('chain.pem') })
  trust = TrustRoot.fromPem({ roots: [pki.read('root.pem')] })
  policy = new Policy({ identity: 'signer@example.com' })
})
after(() => registry?.stop())

test('verifyMany reports the bad image and verifies the others', async () => {
  const images = [0, 1, 2, 3].map((i) => makeImage(registry.addr, `app/batch-${i}`))
  for (const image of images.slice(0, 3)) {
    await reg.sign(image.pinned, signer)
  }
  const missing = `${registry.addr}/app/batch-0:absent`
  const refs = [images[0].pinned, images[3].pinned, images[1].tagged, missing, images[2].pinned]
  const entries = await reg.verifyMany(refs, trust, policy, { maxConcurrency: 2 })
  assert.deepEqual(entries.map((e) => e.reference), refs)
  assert.equal(entries[1].error.code, 'NO_SIGNATURES')
  assert.equal(entries[1].error.family, 'verification')
  assert.equal(entries[1].result, undefined)
  assert.equal(entries[3].error.code, 'IMAGE_NOT_FOUND')
  for (const [index, image] of [[0, images[0]], [2, images[1]], [4, images[2]]]) {
    assert.equal(entries[index].error, undefined)
    assert.equal(entries[index].result.digest, image.digest)
    assert.deepEqual(entries[index].result.signatures.map((s) => s.format), ['legacy_tag'])
  }
  const all = await reg.verifyMany(refs, trust, policy, { allSignatures: true })
  assert.deepEqual(all.map((e) => Boolean(e.error)), [false, true, false, true, false])

  // Another root: every signed image fails on its own, none let through by what the first
  // verifier validated.
  const attacker = TrustRoot.fromPem({ roots: [pki.read('attacker-root.pem')] })
  const refused = await reg.verifyMany(images.slice(0, 3).map((i) => i.pinned), attacker, policy)
  for (const entry of refused) {
    assert.equal(entry.error.code, 'NO_MATCHING_SIGNATURE')
    assert.deepEqual(entry.error.details.NoMatchingSignature.rejections.map((r) => r.code), ['CERT_UNTRUSTED_CHAIN'])
  }
})

test('verifyMany reuses the verdict of an unchanged image', async () => {
  // A trust root of this test's own: its cache and counters are this test's.
  const own = TrustRoot.fromPem({ roots: [pki.read('root.pem')] })
  const image = makeImage(registry.addr, 'app/batch-cached')
  await reg.sign(image.pinned, signer)
  const [first] = await reg.verifyMany([image.pinned], own, policy)
  assert.deepEqual(own.resultCacheStats(), { hits: 0, misses: 1, entries: 1 })
  const [again] = await reg.verifyMany([image.pinned], own, policy)
  assert.equal(own.resultCacheStats().hits, 1)
  assert.deepEqual(again.result, first.result)
  // A signature appended: verified in full, both listed.
  await reg.sign(image.pinned, signer, { annotations: { run: '2' } })
  const [appended] = await reg.verifyMany([image.pinned], own, policy)
  assert.equal(appended.result.signatures.length, 2)
  assert.equal(own.resultCacheStats().misses, 2)
  // Another policy: verified in full, and refused.
  const [refused] = await reg.verifyMany([image.pinned], own, new Policy({ identity: 'someone@example.com' }))
  assert.equal(refused.error.code, 'NO_MATCHING_SIGNATURE')
  assert.equal(own.resultCacheStats().hits, 1)
})

test('verifyMany refuses bad arguments', async () => {
  await rejectsWith(() => reg.verifyMany(['registry.example/a:1'], trust, policy, { maxConcurrency: 0 }), 'INVALID_ARGUMENT', assert)
  await rejectsWith(reg.verifyMany(['registry.example/a:1', 'NOT A REFERENCE'], trust, policy), 'INVALID_REFERENCE', assert)
})
