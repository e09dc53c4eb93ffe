// Sigstore bundle v0.3 referrers (cosign v3's format) from Node: written on request with
// `bundleFormat: true`, verified beside the legacy tags, the format reported on every result.
// The test registry is distribution 2.8, so the referrers tag schema (`sha256-<hex>`) lists them.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Policy, RegistryClient, Signer, TrustRoot } from 'ironsign'
import { makeImage, makePki, startRegistry } from './helpers.mjs'

let registry, reg, signer, trust, policy
before(() => {
  registry = startRegistry('bundles')
  const pki = makePki()
  reg = new RegistryClient({ insecureHttp: [registry.addr], caFile: null, configFiles: [] })
  signer = Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain: pki.read('chain.pem') })
  trust = TrustRoot.fromPem({ roots: [pki.read('root.pem')], intermediates: [pki.read('inter.pem')] })
  policy = new Policy({ identity: 'signer@example.com' })
})
after(() => registry?.stop())

test('bundleFormat writes a bundle referrer that verifies beside the legacy signature', async () => {
  const image = makeImage(registry.addr, 'app/bundles', 'v1')
  const legacy = await reg.sign(image.pinned, signer)
  assert.equal(legacy.signatures[0].format, 'legacy_tag')
  const report = await reg.sign(image.pinned, signer, { bundleFormat: true, annotations: { team: 'node' } })
  const entry = report.signatures[0]
  assert.equal(entry.format, 'sigstore_bundle')
  assert.match(entry.referrer, /^sha256:[0-9a-f]{64}$/)
  assert.equal(entry.tag, image.digest.replace(':', '-'))

  // The legacy signature satisfies the policy: the bundles are not read unless asked for.
  const first = await reg.verify(image.pinned, trust, policy)
  assert.deepEqual(first.signatures.map((s) => s.format), ['legacy_tag'])
  const res = await reg.verify(image.pinned, trust, policy, { allSignatures: true })
  assert.deepEqual(res.signatures.map((s) => s.format).sort(), ['legacy_tag', 'sigstore_bundle'])
  const bundled = res.signatures.find((s) => s.format === 'sigstore_bundle')
  assert.equal(bundled.referrer, entry.referrer)
  assert.equal(bundled.payload.type, 'https://sigstore.dev/cosign/sign/v1')
  assert.deepEqual(bundled.payload.optional, { team: 'node' })

  const attested = await reg.attest(image.pinned, signer, { predicateType: 'https://example.com/p/v1', predicate: { a: 1 }, bundleFormat: true })
  assert.equal(attested.format, 'sigstore_bundle')
  const found = await reg.verifyAttestation(image.pinned, trust, policy, { predicateType: 'https://example.com/p/v1' })
  assert.deepEqual(found.attestations.map((a) => a.format), ['sigstore_bundle'])
  assert.equal(found.attestations[0].referrer, attested.referrer)
})
