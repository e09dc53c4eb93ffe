// Trust configurations: verification under one, and the instructions generated from it.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { RegistryClient, Signer, TrustConfig, instructions } from 'ironsign'
import { ROOT, makeImage, makePki, startRegistry, tempDir } from './helpers.mjs'

let registry, pki, dir, client, config
before(() => {
  registry = startRegistry('trust-config')
  pki = makePki()
  dir = tempDir()
  const path = join(dir.dir, 'trust.yaml')
  writeFileSync(path, [
    'version: 1',
    'name: node-images',
    `images: ["${registry.addr}/node/*"]`,
    `roots: [{file: ${pki.path('root.pem')}}]`,
    `intermediates: [{file: ${pki.path('inter.pem')}}]`,
    'identity: {san: signer@example.com}',
    'attestations: [{type: vuln}]',
    '',
  ].join('\n'))
  config = TrustConfig.fromFile(path)
  client = new RegistryClient({ insecureHttp: [registry.addr], configFiles: [] })
})
after(() => {
  dir?.remove()
  registry?.stop()
})

test('a trust config verifies the signature and every required attestation', async () => {
  assert.equal(config.name, 'node-images')
  assert.deepEqual(config.requiredPredicateTypes, ['https://cosign.sigstore.dev/attestation/vuln/v1'])
  const signer = Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain: pki.read('chain.pem') })
  const image = makeImage(registry.addr, 'node/app', 'v1')
  image.ref = `${registry.addr}/node/app@${image.digest}`
  assert.ok(config.covers(image.ref))
  await client.sign(image.ref, signer)
  await assert.rejects(client.verifyWithTrustConfig(image.ref, config), (e) => e.code === 'NO_SIGNATURES')
  const report = readFileSync(join(ROOT, 'examples/quickstart/trivy-report.json'))
  await client.attest(image.ref, signer, { predicateType: 'vuln', predicate: report })
  const result = await client.verifyWithTrustConfig(image.ref, config)
  assert.equal(result.trustConfig, 'node-images')
  assert.equal(result.signature.digest, image.digest)
  assert.equal(result.signature.signatures[0].matchedIdentity, 'signer@example.com')
  assert.equal(result.attestations[0].predicateType, 'https://cosign.sigstore.dev/attestation/vuln/v1')
  // The same trust and policy, taken apart.
  assert.equal((await client.verify(image.ref, config.trustRoot, config.policy)).digest, image.digest)
  await assert.rejects(
    client.verifyWithTrustConfig(`${registry.addr}/elsewhere/app@${image.digest}`, config),
    (e) => e.code === 'IMAGE_NOT_COVERED' && e.family === 'verification',
  )
})

test('bad configurations name the field', () => {
  assert.throws(
    () => TrustConfig.fromText('version: 1\nimages: [r.example/a/*]\nroots: [{file: root.pem}]\nidentity: {san: a@b}\ncolour: x\n', { baseDir: pki.dir }),
    (e) => e.code === 'INVALID_TRUST_CONFIG' && /colour/.test(e.message),
  )
  const json = TrustConfig.fromText(JSON.stringify({ version: 1, images: ['r.example/a/*'], roots: [{ file: 'root.pem' }], identity: { san: 'a@b' } }), { baseDir: pki.dir })
  assert.deepEqual(json.toJson().identity, { san: 'a@b' })
})

test('instructions for every format', () => {
  const image = `${registry.addr}/node/app@sha256:${'0'.repeat(64)}`
  const cosign = instructions('cosign', config, image)
  assert.deepEqual(cosign.map((f) => f.path), ['verify-cosign-v2.sh', 'verify-cosign-v3.sh'])
  assert.ok(cosign[1].content.includes('--new-bundle-format=false'))
  assert.equal(cosign[0].mediaType, 'text/x-shellscript')
  for (const format of ['kyverno', 'policy-controller', 'podman', 'markdown', 'html']) {
    assert.ok(instructions(format, config).length > 0, format)
  }
  assert.throws(() => instructions('cosign', config, 'registry.example/elsewhere/app:1'), (e) => e.code === 'IMAGE_NOT_COVERED')
  assert.throws(() => instructions('helm', config), (e) => e.code === 'INVALID_ARGUMENT')
})

test('a certificate without codeSigning signs with a finding; a key-anchored config verifies by key', async () => {
  const dodMaterial = { certificate: pki.read('dod-leaf.pem'), chain: pki.read('dod-chain.pem') }
  const dod = Signer.fromKeyPem(pki.read('dod-leaf.key'), dodMaterial)
  assert.deepEqual(dod.findings.map((f) => f.code), ['NO_CODE_SIGNING_EKU'])
  assert.throws(
    () => Signer.fromKeyPem(pki.read('dod-leaf.key'), { ...dodMaterial, strictEku: true }),
    (e) => e.code === 'CERT_NO_CODE_SIGNING',
  )
  const dodImage = makeImage(registry.addr, 'node/dod', 'v1')
  const otherImage = makeImage(registry.addr, 'node/other', 'v1')
  const ref = (i, repo) => `${registry.addr}/${repo}@${i.digest}`
  await client.sign(ref(dodImage, 'node/dod'), dod)
  // Another key, whose certificate chains validly to a root the configuration does not name.
  const other = Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain: pki.read('chain.pem') })
  await client.sign(ref(otherImage, 'node/other'), other)
  const path = join(dir.dir, 'keys.yaml')
  writeFileSync(path, `version: 1\nimages: ["${registry.addr}/node/*"]\nkeys: [{file: ${pki.path('dod-leaf.pub')}}]\n`)
  const keyConfig = TrustConfig.fromFile(path)
  const result = await client.verifyWithTrustConfig(ref(dodImage, 'node/dod'), keyConfig)
  assert.equal(result.signature.signatures[0].signer.kind, 'key')
  await assert.rejects(
    client.verifyWithTrustConfig(ref(otherImage, 'node/other'), keyConfig),
    (e) => e.code === 'NO_MATCHING_SIGNATURE',
  )
  assert.throws(
    () => TrustConfig.fromText('version: 1\nimages: [r.example/a/*]\nkeys: [{file: dod-leaf.pub}]\nidentity: {san: a@b}\n', { baseDir: pki.dir }),
    (e) => e.code === 'INVALID_TRUST_CONFIG' && /identity/.test(e.message),
  )
})
