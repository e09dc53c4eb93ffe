// Every function of the binding against a real registry, the test PKI and the real cosign.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  Policy,
  RegistryClient,
  Signer,
  TrustRoot,
  errorCodes,
  inspectCertificate,
  rejectionCodes,
  version,
} from 'ironsign'
import { COSIGN, PACKAGE, ROOT, makeImage, makePki, rejectsWith, startRegistry, tempDir } from './helpers.mjs'

const FIXTURES = join(ROOT, 'ironsign-cli/tests/fixtures')
const VULN_URI = 'https://cosign.sigstore.dev/attestation/vuln/v1'

let registry, pki, reg, signer, trust, policy
before(() => {
  registry = startRegistry('api')
  pki = makePki()
  reg = new RegistryClient({ insecureHttp: [registry.addr], caFile: null, configFiles: [] })
  signer = Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain: pki.read('chain.pem') })
  trust = TrustRoot.fromPem({ roots: [pki.read('root.pem')], intermediates: [pki.read('inter.pem')] })
  policy = new Policy({ identity: 'signer@example.com' })
})
after(() => registry?.stop())

describe('sign and verify', () => {
  test('a signature made from Node verifies, and the result records what was proven', async () => {
    const image = makeImage(registry.addr, 'app/sign', 'v1')
    const report = await reg.sign(image.tagged, signer, { annotations: { env: 'prod' } })
    assert.equal(report.signatures.length, 1)
    assert.equal(report.signatures[0].digest, image.digest)
    assert.equal(report.signatures[0].added, true)
    assert.match(report.signatures[0].tag, /^sha256-[0-9a-f]{64}\.sig$/)

    const res = await reg.verify(image.tagged, trust, policy)
    assert.equal(res.digest, image.digest)
    assert.equal(res.repository, `${registry.addr}/app/sign`)
    assert.equal(res.signatures.length, 1)
    const sig = res.signatures[0]
    assert.equal(sig.signer.kind, 'certificate')
    assert.deepEqual(sig.signer.certificate.emails, ['signer@example.com'])
    assert.equal(sig.signer.chain.length, 3)
    assert.equal(sig.matchedIdentity, 'signer@example.com')
    assert.equal(sig.payload.dockerManifestDigest, image.digest)
    assert.deepEqual(sig.payload.optional, { env: 'prod' })
    assert.ok(sig.checks.includes('chain_to_root'))
    assert.deepEqual(res.rejected, [])
    assert.equal(await reg.digestOf(image.tagged), image.digest)

    // Regular expression identity, required annotations, several identities.
    await reg.verify(image.pinned, trust, new Policy({ identityRegexp: '^signer@example\\.com$', annotations: { env: 'prod' } }))
    await reg.verify(image.pinned, trust, new Policy({ identity: ['nobody@example.com', 'signer@example.com'] }))
    const e = await rejectsWith(reg.verify(image.pinned, trust, new Policy({ identity: 'signer@example.com', annotations: { env: 'dev' } })), 'NO_MATCHING_SIGNATURE', assert)
    assert.equal(e.details.NoMatchingSignature.rejections[0].code, 'ANNOTATION_MISMATCH')
  })

  test('the real cosign verifies a signature made from Node', async () => {
    const image = makeImage(registry.addr, 'app/interop', 'v1')
    await reg.sign(image.tagged, signer)
    const out = execFileSync(COSIGN, [
      'verify', '--allow-http-registry', '--certificate-chain', pki.path('chain.pem'),
      '--certificate-identity', 'signer@example.com', '--certificate-oidc-issuer-regexp', '.*',
      '--insecure-ignore-tlog', '--insecure-ignore-sct', image.pinned,
    ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    const verified = JSON.parse(out)
    assert.equal(verified[0].critical.image['docker-manifest-digest'], image.digest)
  })

  test('key-based trust: a key-only signature verifies with the public key', async () => {
    const image = makeImage(registry.addr, 'app/key', 'v1')
    const keySigner = Signer.fromKeyPem(readFileSync(pki.path('leaf.key')))
    assert.match(keySigner.publicKeyPem, /BEGIN PUBLIC KEY/)
    await reg.sign(image.pinned, keySigner)
    const res = await reg.verify(image.pinned, TrustRoot.fromPublicKeys([pki.read('leaf.pub')]), new Policy())
    assert.equal(res.signatures[0].signer.kind, 'key')
    assert.match(res.signatures[0].signer.fingerprint, /^[0-9a-f]{64}$/)
    // A chain file as cosign's --certificate-chain, and any identity (dangerous) both work on certificate signatures.
    await reg.sign(image.pinned, signer)
    await reg.verify(image.pinned, TrustRoot.fromChainPem(pki.read('chain.pem')), policy)
    await reg.verify(image.pinned, trust, new Policy({ dangerousAnyIdentity: true }))
  })

  test('encrypted keys: the right password loads, a wrong one is KEY_WRONG_PASSWORD, none KEY_PASSWORD_REQUIRED', async () => {
    const key = pki.read('leaf.enc.key')
    const s = Signer.fromKeyPem(key, { password: 'test-password', certificate: pki.read('leaf.pem'), chain: pki.read('chain.pem') })
    assert.deepEqual(s.warnings, [])
    const wrong = await rejectsWith(() => Signer.fromKeyPem(key, { password: 'wrong' }), 'KEY_WRONG_PASSWORD', assert)
    assert.equal(wrong.family, 'key')
    assert.ok(!wrong.message.includes('wrong"'), 'no password in the message')
    await rejectsWith(() => Signer.fromKeyPem(key), 'KEY_PASSWORD_REQUIRED', assert)
    await rejectsWith(() => Signer.fromKeyPem('not a key'), 'KEY_PARSE', assert)
    const dir = tempDir()
    try {
      writeFileSync(join(dir.dir, 'k.pem'), key)
      Signer.fromKeyFile(join(dir.dir, 'k.pem'), { password: Buffer.from('test-password') })
      await rejectsWith(() => Signer.fromKeyFile(join(dir.dir, 'missing.pem')), 'IO', assert)
    } finally {
      dir.remove()
    }
    // A certificate that is not the key's is refused at load time.
    await rejectsWith(() => Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('other-leaf.pem') }), 'CERT_KEY_MISMATCH', assert)
  })
})

describe('error codes', () => {
  let signed
  before(async () => {
    signed = makeImage(registry.addr, 'app/errors', 'v1')
    await reg.sign(signed.tagged, signer)
  })

  test('an unsigned image is NO_SIGNATURES', async () => {
    const image = makeImage(registry.addr, 'app/unsigned', 'v1')
    const e = await rejectsWith(reg.verify(image.tagged, trust, policy), 'NO_SIGNATURES', assert)
    assert.equal(e.family, 'verification')
    assert.equal(e.details.NoSignatures.kind, 'signatures')
  })

  test('a wrong identity is NO_MATCHING_SIGNATURE listing IDENTITY_MISMATCH', async () => {
    const e = await rejectsWith(reg.verify(signed.tagged, trust, new Policy({ identity: 'someone@example.com' })), 'NO_MATCHING_SIGNATURE', assert)
    const d = e.details.NoMatchingSignature
    assert.equal(d.count, 1)
    assert.equal(d.rejections[0].code, 'IDENTITY_MISMATCH')
    assert.ok(d.rejections[0].reason.IdentityMismatch.found.includes('signer@example.com'))
    assert.match(d.rejections[0].reason.IdentityMismatch.expected, /someone@example\.com/)
    assert.match(d.rejections[0].layerDigest, /^sha256:/)
  })

  test('an untrusted root is NO_MATCHING_SIGNATURE listing CERT_UNTRUSTED_CHAIN', async () => {
    const other = TrustRoot.fromPem({ roots: pki.read('other-root.pem') })
    const e = await rejectsWith(reg.verify(signed.tagged, other, policy), 'NO_MATCHING_SIGNATURE', assert)
    assert.equal(e.details.NoMatchingSignature.rejections[0].code, 'CERT_UNTRUSTED_CHAIN')
  })

  test('a bad reference is INVALID_REFERENCE, a missing image IMAGE_NOT_FOUND', async () => {
    const e = await rejectsWith(reg.verify('Not A Reference!!', trust, policy), 'INVALID_REFERENCE', assert)
    assert.equal(e.family, 'input')
    assert.equal(e.details.InvalidReference.input, 'Not A Reference!!')
    const m = await rejectsWith(reg.verify(`${registry.addr}/app/missing:nope`, trust, policy), 'IMAGE_NOT_FOUND', assert)
    assert.equal(m.family, 'registry')
    await rejectsWith(reg.digestOf(`${registry.addr}/app/missing:nope`), 'IMAGE_NOT_FOUND', assert)
  })

  test('bad trust material and policies throw synchronously with codes', async () => {
    await rejectsWith(() => TrustRoot.fromPem({ roots: pki.read('inter.pem') }), 'CERT_NOT_A_ROOT', assert)
    await rejectsWith(() => TrustRoot.fromPem({ roots: 'garbage' }), 'CERT_PARSE', assert)
    await rejectsWith(() => new Policy({ identityRegexp: '(' }), 'INVALID_ARGUMENT', assert)
    // Certificate trust without an identity is refused at verification.
    await rejectsWith(reg.verify(signed.tagged, trust, new Policy()), 'INVALID_ARGUMENT', assert)
  })

  test('the TypeScript unions list exactly the codes the core returns', () => {
    const dts = readFileSync(join(PACKAGE, 'index.d.ts'), 'utf8')
    const union = (name) => [...dts.split(`export type ${name} =`)[1].split(/\n\n/)[0].matchAll(/'([A-Z_]+)'/g)].map((m) => m[1])
    assert.deepEqual(union('ErrorCode').sort(), errorCodes().map((c) => c.code).sort())
    assert.deepEqual(union('RejectionCode').sort(), [...rejectionCodes()].sort())
    const families = new Set(errorCodes().map((c) => c.family))
    assert.deepEqual([...families].sort(), ['certificate', 'input', 'key', 'registry', 'timestamp', 'verification'])
  })
})

describe('attestations and SBOMs', () => {
  test('attest a vulnerability report, verify it, download it', async () => {
    const image = makeImage(registry.addr, 'app/attest', 'v1')
    const trivy = JSON.parse(readFileSync(join(FIXTURES, 'scanners/trivy.json'), 'utf8'))
    const report = await reg.attest(image.tagged, signer, { predicateType: 'vuln', predicate: trivy })
    assert.equal(report.predicateType, VULN_URI)
    assert.equal(report.digest, image.digest)
    assert.match(report.tag, /\.att$/)
    // A custom predicate given as a Buffer.
    await reg.attest(image.pinned, signer, { predicateType: 'custom', predicate: Buffer.from('hello') })

    const res = await reg.verifyAttestation(image.tagged, trust, policy, { predicateType: 'vuln' })
    assert.equal(res.predicateType, VULN_URI)
    assert.equal(res.attestations.length, 1)
    const st = res.attestations[0].statement
    assert.equal(st.predicateType, VULN_URI)
    assert.equal(st.subject[0].digest.sha256, image.digest.slice('sha256:'.length))
    assert.equal(st.predicate.scanner.uri.includes('trivy'), true)
    assert.equal(res.rejected.length, 1) // the custom one
    assert.equal(res.rejected[0].code, 'PREDICATE_TYPE_MISMATCH')

    const custom = await reg.verifyAttestation(image.tagged, trust, policy)
    assert.equal(custom.attestations[0].statement.predicate.Data, 'hello')

    const all = await reg.downloadAttestations(image.tagged)
    assert.equal(all.length, 2)
    const vuln = await reg.downloadAttestations(image.tagged, { predicateType: 'vuln' })
    assert.equal(vuln.length, 1)
    assert.equal(vuln[0].predicateType, VULN_URI)
    assert.equal(vuln[0].envelope.payloadType, 'application/vnd.in-toto+json')
    assert.equal(vuln[0].statement.predicateType, VULN_URI)

    const wrong = await rejectsWith(reg.verifyAttestation(image.tagged, trust, new Policy({ identity: 'x@example.com' }), { predicateType: 'vuln' }), 'NO_MATCHING_SIGNATURE', assert)
    assert.equal(wrong.details.NoMatchingSignature.kind, 'attestations')
    const unattested = makeImage(registry.addr, 'app/attest', 'none')
    await rejectsWith(reg.verifyAttestation(unattested.tagged, trust, policy, { predicateType: 'vuln' }), 'NO_SIGNATURES', assert)
    await rejectsWith(reg.attest(image.tagged, signer, { predicateType: 'not a type', predicate: {} }), 'INVALID_ARGUMENT', assert)
    await rejectsWith(reg.attest(image.tagged, signer, { predicateType: 'vuln', predicate: Buffer.from('{}') }), 'UNKNOWN_SCANNER', assert)
  })

  test('attach an SBOM from a Buffer and download it', async () => {
    const image = makeImage(registry.addr, 'app/sbom', 'v1')
    const spdx = readFileSync(join(FIXTURES, 'sbom/spdx-2.3.json'))
    const report = await reg.attachSbom(image.tagged, spdx, { type: 'spdx' })
    assert.equal(report.mediaType, 'text/spdx+json')
    assert.equal(report.size, spdx.length)
    assert.match(report.tag, /\.sbom$/)
    const sbom = await reg.downloadSbom(image.tagged)
    assert.ok(Buffer.isBuffer(sbom.data))
    assert.ok(sbom.data.equals(spdx))
    assert.equal(sbom.mediaType, 'text/spdx+json')
    assert.equal(sbom.digest, image.digest)
    assert.equal(sbom.layerDigest, report.layerDigest)
    await rejectsWith(reg.attachSbom(image.tagged, spdx, { type: 'cyclonedx' }), 'SBOM_FORMAT_MISMATCH', assert)
    await rejectsWith(reg.attachSbom(image.tagged, 'hello', {}), 'UNKNOWN_SBOM_FORMAT', assert)
    await rejectsWith(reg.attachSbom(image.tagged, spdx, { type: 'word' }), 'INVALID_ARGUMENT', assert)
    const bare = makeImage(registry.addr, 'app/sbom', 'none')
    await rejectsWith(reg.downloadSbom(bare.tagged), 'NO_SIGNATURES', assert)
  })

  test('download signatures in cosign\'s shape', async () => {
    const image = makeImage(registry.addr, 'app/download', 'v1')
    await reg.sign(image.tagged, signer)
    const sigs = await reg.downloadSignatures(image.tagged)
    assert.equal(sigs.length, 1)
    assert.match(sigs[0].Base64Signature, /^[A-Za-z0-9+/=]+$/)
    const payload = JSON.parse(Buffer.from(sigs[0].Payload, 'base64').toString())
    assert.equal(payload.critical.image['docker-manifest-digest'], image.digest)
    assert.equal(typeof sigs[0].Cert.Raw, 'string')
    assert.equal(sigs[0].Chain.length, 2)
  })
})

describe('certificates, credentials, version', () => {
  test('inspectCertificate reports a chain', () => {
    const r = inspectCertificate(pki.read('leaf.pem') + pki.read('chain.pem'))
    assert.deepEqual(r.certificates.map((c) => c.role), ['leaf', 'intermediate', 'root'])
    assert.deepEqual(r.certificates[0].emails, ['signer@example.com'])
    assert.equal(r.chainOrderOk, true)
    assert.equal(typeof r.certificates[0].daysToExpiry, 'number')
    assert.equal(inspectCertificate(readFileSync(pki.path('root.pem'))).certificates[0].isCa, true)
    const nosan = inspectCertificate(pki.read('leaf-nosan.pem'))
    assert.ok(nosan.warnings.some((w) => w.code === 'NO_SAN'))
  })

  test('registry credentials: explicit auth, config files, DOCKER_CONFIG, and none', async () => {
    const basic = execFileSync(join(ROOT, 'scripts/registry'), ['start', `node-basic-${process.pid}`, '--htpasswd', 'tester:s3cret'], { encoding: 'utf8' }).trim()
    const dir = tempDir()
    try {
      const ref = `${basic}/app/private:none`
      await rejectsWith(new RegistryClient({ configFiles: [] }).digestOf(ref), 'REGISTRY_UNAUTHORIZED', assert)
      await rejectsWith(new RegistryClient({ auth: { username: 'tester', password: 'wrong' }, configFiles: [] }).digestOf(ref), 'REGISTRY_UNAUTHORIZED', assert)
      // Authenticated, the image is simply absent.
      await rejectsWith(new RegistryClient({ auth: { username: 'tester', password: 's3cret' } }).digestOf(ref), 'IMAGE_NOT_FOUND', assert)
      const config = join(dir.dir, 'config.json')
      writeFileSync(config, JSON.stringify({ auths: { [basic]: { auth: Buffer.from('tester:s3cret').toString('base64') } } }))
      await rejectsWith(new RegistryClient({ configFiles: [config] }).digestOf(ref), 'IMAGE_NOT_FOUND', assert)
      // The default files come from the environment, as Docker finds them.
      const saved = process.env.DOCKER_CONFIG
      process.env.DOCKER_CONFIG = dir.dir
      try {
        await rejectsWith(new RegistryClient().digestOf(ref), 'IMAGE_NOT_FOUND', assert)
      } finally {
        if (saved === undefined) delete process.env.DOCKER_CONFIG
        else process.env.DOCKER_CONFIG = saved
      }
      await rejectsWith(() => new RegistryClient({ auth: { username: '', password: 'x' } }), 'INVALID_ARGUMENT', assert)
      await rejectsWith(() => new RegistryClient({ caFile: join(dir.dir, 'missing.pem') }), 'IO', assert)
    } finally {
      dir.remove()
      execFileSync(join(ROOT, 'scripts/registry'), ['stop', `node-basic-${process.pid}`])
    }
  })

  test('one version everywhere: package.json, the workspace, the native module', () => {
    const pkg = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8'))
    const cargo = readFileSync(join(ROOT, 'Cargo.toml'), 'utf8')
    const workspace = cargo.split('[workspace.package]')[1].match(/^version = "([^"]+)"/m)[1]
    assert.equal(pkg.version, workspace)
    assert.equal(version(), workspace)
  })
})

test('the request timeout bounds a registry that never answers, and must be positive', async () => {
  const { createServer } = await import('node:net')
  const held = []
  const server = createServer((socket) => held.push(socket)) // accepts, never answers
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const silent = new RegistryClient({ configFiles: [], timeout: 1.5 })
    const e = await rejectsWith(silent.digestOf(`127.0.0.1:${server.address().port}/silent/app:v1`), 'REGISTRY_TRANSPORT', assert)
    assert.match(e.message, /timed out|timeout/)
  } finally {
    for (const s of held) s.destroy()
    server.close()
  }
  for (const timeout of [0, -1, Number.NaN]) {
    await rejectsWith(() => new RegistryClient({ timeout }), 'INVALID_ARGUMENT', assert)
  }
})
