// examples/node/artifacts-server.mjs, run as its own process against the test registry.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, test } from 'node:test'
import { RegistryClient, Signer } from 'ironsign'
import { ROOT, makeImage, makePki, startRegistry, tempDir } from './helpers.mjs'

const SERVER = join(ROOT, 'examples/node/artifacts-server.mjs')
const FIXTURES = join(ROOT, 'ironsign-cli/tests/fixtures')

let registry, pki, dir, server, base
before(async () => {
  registry = startRegistry('example')
  pki = makePki()
  dir = tempDir()
  const trustConfig = join(dir.dir, 'trust.yaml')
  writeFileSync(trustConfig, [
    'version: 1',
    'name: web-images',
    `images: ["${registry.addr}/web/*"]`,
    `roots: [{file: ${pki.path('root.pem')}}]`,
    `intermediates: [{file: ${pki.path('inter.pem')}}]`,
    'identity: {san: signer@example.com}',
    '',
  ].join('\n'))
  const config = join(dir.dir, 'config.json')
  writeFileSync(config, JSON.stringify({
    trustConfig: 'trust.yaml',
    listen: { host: '127.0.0.1', port: 0 },
    registry: { insecureHttp: [registry.addr], configFiles: [] },
    trust: { roots: [pki.path('root.pem')], intermediates: [pki.path('inter.pem')] },
    policy: { identity: 'signer@example.com' },
  }))
  server = spawn(process.execPath, [SERVER, config], { cwd: join(ROOT, 'examples/node'), stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = await once(createInterface({ input: server.stdout }), 'line')
  base = line.match(/^listening on (http:\/\/127\.0\.0\.1:\d+)$/)[1]
})
after(async () => {
  if (server && server.exitCode === null) {
    process.kill(server.pid, 'SIGTERM')
    await once(server, 'exit')
  }
  dir?.remove()
  registry?.stop()
})

const get = async (ref) => {
  const res = await fetch(`${base}/images/${encodeURIComponent(ref)}/artifacts`)
  return { status: res.status, body: await res.json() }
}

test('a signed, attested image with an SBOM: everything listed and verified', async () => {
  const reg = new RegistryClient({ insecureHttp: [registry.addr], configFiles: [] })
  const signer = Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain: pki.read('chain.pem') })
  const other = Signer.fromKeyPem(pki.read('leaf-otherid.key'), { certificate: pki.read('leaf-otherid.pem'), chain: pki.read('chain.pem') })
  const image = makeImage(registry.addr, 'web/app', 'v1')
  await reg.sign(image.tagged, signer, { annotations: { build: '42' } })
  await reg.sign(image.tagged, other)
  await reg.attest(image.tagged, signer, { predicateType: 'vuln', predicate: readFileSync(join(FIXTURES, 'scanners/grype.json')) })
  await reg.attest(image.tagged, other, { predicateType: 'custom', predicate: 'note' })
  await reg.attachSbom(image.tagged, readFileSync(join(FIXTURES, 'sbom/cyclonedx-1.6.json')))

  const { status, body } = await get(image.tagged)
  assert.equal(status, 200)
  assert.equal(body.digest, image.digest)
  assert.equal(body.signatures.verified, true)
  assert.equal(body.signatures.signatures.length, 1)
  assert.equal(body.signatures.signatures[0].identity, 'signer@example.com')
  assert.deepEqual(body.signatures.signatures[0].annotations, { build: '42' })
  assert.equal(body.signatures.rejected.length, 1)
  assert.equal(body.signatures.rejected[0].code, 'IDENTITY_MISMATCH')
  assert.deepEqual(body.attestations.map((a) => [a.predicateType, a.verified]), [
    ['https://cosign.sigstore.dev/attestation/v1', false],
    ['https://cosign.sigstore.dev/attestation/vuln/v1', true],
  ])
  assert.equal(body.attestations[0].error.code, 'NO_MATCHING_SIGNATURE')
  assert.equal(body.sbom.mediaType, 'application/vnd.cyclonedx+json')
  // The artifact tree, each signature with its verification status.
  assert.equal(body.tree.mediaType, 'application/vnd.ironsign.artifact-tree+json;version=0.1')
  assert.equal(body.tree.digest, image.digest)
  const statuses = body.tree.signatures.entries.map((s) => [s.status.state, s.status.code ?? null]).sort()
  assert.deepEqual(statuses, [['rejected', 'IDENTITY_MISMATCH'], ['verified', null]])
  assert.deepEqual(body.tree.attestations.entries.length, 2)
  assert.equal(body.tree.sboms.entries.length, 1)
  // How end users verify it, from the trust configuration.
  assert.equal(body.instructions.trustConfig, 'web-images')
  assert.equal(body.instructions.covered, true)
  assert.match(body.instructions.markdown, /signer@example\.com/)
  assert.ok(body.instructions.markdown.includes(image.digest))
  assert.match(body.instructions.html, /^<!doctype html>/)
  assert.deepEqual(body.instructions.cosign.map((f) => f.path), ['verify-cosign-v2.sh', 'verify-cosign-v3.sh'])
})

test('an unsigned image, a missing image, a bad reference', async () => {
  const image = makeImage(registry.addr, 'web/bare', 'v1')
  const bare = await get(image.tagged)
  assert.equal(bare.status, 200)
  assert.equal(bare.body.signatures.verified, false)
  assert.equal(bare.body.signatures.error.code, 'NO_SIGNATURES')
  assert.deepEqual(bare.body.attestations, [])
  assert.equal(bare.body.sbom, null)
  const missing = await get(`${registry.addr}/web/missing:v1`)
  assert.equal(missing.status, 404)
  assert.equal(missing.body.error.code, 'IMAGE_NOT_FOUND')
  const bad = await get('Bad Reference!!')
  assert.equal(bad.status, 400)
  assert.equal(bad.body.error.code, 'INVALID_REFERENCE')
  assert.equal((await fetch(`${base}/nothing`)).status, 404)
})
