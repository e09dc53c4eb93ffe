// Blobs from Node: signBlob / attestBlob and TrustRoot.verifyBlob / verifyBlobAttestation, against
// the real cosign both ways (its verify-blob accepts what Node writes; Node accepts what cosign
// writes), and each check failing closed with the code that names why. No registry is needed.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, after, test } from 'node:test'
import { Policy, Signer, SignedBlob, TrustRoot, attestBlob, signBlob } from 'ironsign'
import { COSIGN, makePki, rejectsWith, tempDir } from './helpers.mjs'

const BLOB = Buffer.from('release bytes\n')
let pki, tmp, signer, trust, policy

before(() => {
  pki = makePki()
  tmp = tempDir()
  signer = Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain: pki.read('chain.pem') })
  trust = TrustRoot.fromPem({ roots: [pki.read('root.pem')], intermediates: [pki.read('inter.pem')] })
  policy = new Policy({ identity: 'signer@example.com' })
})
after(() => tmp?.remove())

function cosign(...args) {
  return spawnSync(COSIGN, args, { encoding: 'utf8', env: { ...process.env, COSIGN_PASSWORD: 'pw' } })
}

function file(name, content) {
  const path = join(tmp.dir, name)
  writeFileSync(path, content)
  return path
}

const rejection = (error) => error.details.NoMatchingSignature.rejections[0].code

test('cosign verify-blob accepts a Node blob signature: detached with certificate, and a bundle', async () => {
  const signed = await signBlob(BLOB, signer)
  assert.ok(signed instanceof SignedBlob)
  assert.ok(Buffer.isBuffer(signed.signature))
  assert.equal(signed.signatureBase64, signed.signature.toString('base64'))
  assert.equal(signed.envelope, null)
  assert.equal(signed.timestamp, null)
  const blob = file('app.tar.gz', BLOB)
  const common = ['--certificate-chain', pki.path('chain.pem'), '--certificate-identity', 'signer@example.com',
    '--certificate-oidc-issuer-regexp', '.*', '--insecure-ignore-tlog', '--insecure-ignore-sct']
  let out = cosign('verify-blob', '--signature', file('app.sig', signed.signatureBase64),
    '--certificate', file('app.crt', signed.certificateOutput), ...common, blob)
  assert.equal(out.status, 0, out.stderr)
  assert.match(out.stderr, /^Verified OK$/m)
  out = cosign('verify-blob', '--bundle', file('app.bundle', signed.legacyBundle()), ...common, blob)
  assert.equal(out.status, 0, out.stderr)
  // The same evidence tampered with: cosign refuses too.
  out = cosign('verify-blob', '--bundle', file('app.bundle', signed.legacyBundle()), ...common, file('x', 'x'))
  assert.equal(out.status, 1)
  // And Node verifies both bundle formats, reporting which.
  for (const [bundle, format] of [[signed.legacyBundle(), 'legacy_bundle'], [signed.sigstoreBundle(), 'sigstore_bundle']]) {
    const result = await trust.verifyBlob(BLOB, policy, { bundle })
    assert.equal(result.format, format)
    assert.equal(result.matchedIdentity, 'signer@example.com')
    assert.equal(result.digest, `sha256:${createHash('sha256').update(BLOB).digest('hex')}`)
    assert.equal(result.signer.kind, 'certificate')
  }
})

test('Node verifies cosign blob signatures and attestations, and cosign a Node attestation', async () => {
  // cosign's own encrypted key file, imported from the test key.
  const imported = cosign('import-key-pair', '--key', pki.path('leaf.key'), '--output-key-prefix', join(tmp.dir, 'cosign'))
  assert.equal(imported.status, 0, imported.stderr)
  const key = join(tmp.dir, 'cosign.key')
  const [privatePem, publicPem] = [readFileSync(key, 'utf8'), pki.read('leaf.pub')]
  const blob = file('chart.tgz', BLOB)
  let out = cosign('sign-blob', '--key', key, '--tlog-upload=false', blob)
  assert.equal(out.status, 0, out.stderr)
  const byKey = TrustRoot.fromPublicKeys(publicPem)
  const keyOnly = new Policy()
  const result = await byKey.verifyBlob(BLOB, keyOnly, { signature: out.stdout })
  assert.equal(result.format, 'detached')
  assert.ok(result.checks.includes('signature'))
  await rejectsWith(byKey.verifyBlob(Buffer.from('tampered'), keyOnly, { signature: out.stdout }), 'NO_MATCHING_SIGNATURE', assert)

  out = cosign('attest-blob', '--key', key, '--predicate', file('p.json', '{"a": 1}'), '--tlog-upload=false', blob)
  assert.equal(out.status, 0, out.stderr)
  const attested = await byKey.verifyBlobAttestation(keyOnly, { blob: BLOB, signature: out.stdout })
  assert.equal(attested.statement.subject[0].name, 'chart.tgz')
  // cosign's custom type wraps the predicate file's text, as ironsign's does.
  assert.equal(JSON.parse(attested.statement.predicate.Data).a, 1)

  const ours = await attestBlob('chart.tgz', Signer.fromKeyPem(privatePem, { password: 'pw' }), {
    predicate: { a: 1 },
    blob: BLOB,
    format: 'detached',
  })
  assert.ok(Buffer.isBuffer(ours.envelope))
  out = cosign('verify-blob-attestation', '--key', file('cosign.pub', publicPem), '--signature',
    file('ours.json', ours.envelope), '--type', 'custom', '--insecure-ignore-tlog', blob)
  assert.equal(out.status, 0, out.stderr)
})

test('blob checks fail closed with the code that names why', async () => {
  const signed = await signBlob(BLOB, signer)
  const other = await signBlob(Buffer.from('other bytes\n'), signer)
  let e = await rejectsWith(trust.verifyBlob(BLOB, policy, { signature: other.signatureBase64, certificate: signed.certificateOutput }), 'NO_MATCHING_SIGNATURE', assert)
  assert.equal(rejection(e), 'BAD_SIGNATURE')
  e = await rejectsWith(trust.verifyBlob(Buffer.from('other bytes\n'), policy, { bundle: signed.sigstoreBundle() }), 'NO_MATCHING_SIGNATURE', assert)
  assert.equal(rejection(e), 'DIGEST_MISMATCH')
  e = await rejectsWith(trust.verifyBlob(BLOB, new Policy({ identity: 'else@example.com' }), { bundle: signed.legacyBundle() }), 'NO_MATCHING_SIGNATURE', assert)
  assert.equal(rejection(e), 'IDENTITY_MISMATCH')
  const attacker = Signer.fromKeyPem(pki.read('attacker-leaf.key'), { certificate: pki.read('attacker-leaf.pem'), chain: pki.read('attacker-chain.pem') })
  e = await rejectsWith(trust.verifyBlob(BLOB, policy, { bundle: (await signBlob(BLOB, attacker)).sigstoreBundle() }), 'NO_MATCHING_SIGNATURE', assert)
  assert.equal(rejection(e), 'CERT_UNTRUSTED_CHAIN')
  // A bundle whose certificate is not the one that signed.
  const legacy = JSON.parse(signed.legacyBundle().toString())
  legacy.cert = Buffer.from(pki.read('leaf-otherid.pem')).toString('base64')
  e = await rejectsWith(trust.verifyBlob(BLOB, new Policy({ identityRegexp: '.*' }), { bundle: JSON.stringify(legacy) }), 'NO_MATCHING_SIGNATURE', assert)
  assert.equal(rejection(e), 'BAD_SIGNATURE')
  // A bundle with a loose signature beside it (one would go unread), and no evidence at all.
  await rejectsWith(trust.verifyBlob(BLOB, policy, { bundle: signed.legacyBundle(), signature: signed.signatureBase64 }), 'INVALID_ARGUMENT', assert)
  await rejectsWith(trust.verifyBlob(BLOB, policy, {}), 'INVALID_ARGUMENT', assert)
})

test('a blob attestation binds the blob and the predicate type', async () => {
  const digest = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`
  const attested = await attestBlob('dist/app.tar.gz', signer, { predicate: '{"a": 1}', digest, predicateType: 'https://example.com/p/v1' })
  const bundle = attested.sigstoreBundle()
  const result = await trust.verifyBlobAttestation(policy, { blob: BLOB, bundle, predicateType: 'https://example.com/p/v1' })
  assert.equal(result.digest, digest)
  assert.equal(result.format, 'sigstore_bundle')
  assert.equal(result.statement.subject[0].name, 'app.tar.gz')
  assert.ok(result.checks.includes('subject_binding') && result.checks.includes('predicate_type'))
  let e = await rejectsWith(trust.verifyBlobAttestation(policy, { blob: BLOB, bundle, predicateType: 'custom' }), 'NO_MATCHING_SIGNATURE', assert)
  assert.equal(rejection(e), 'PREDICATE_TYPE_MISMATCH')
  e = await rejectsWith(trust.verifyBlobAttestation(policy, { blob: Buffer.from('x'), bundle, predicateType: 'https://example.com/p/v1' }), 'NO_MATCHING_SIGNATURE', assert)
  assert.equal(rejection(e), 'SUBJECT_MISMATCH')
  const unchecked = await trust.verifyBlobAttestation(policy, { bundle, predicateType: 'https://example.com/p/v1', checkClaims: false })
  assert.equal(unchecked.digest, null)
  e = await rejectsWith(trust.verifyBlobAttestation(policy, { blob: BLOB, bundle: (await signBlob(BLOB, signer)).sigstoreBundle() }), 'NO_MATCHING_SIGNATURE', assert)
  assert.equal(rejection(e), 'PAYLOAD_TYPE_MISMATCH')
  // What a hurried caller gets wrong: typed errors, never a guess.
  await rejectsWith(trust.verifyBlobAttestation(policy, { bundle }), 'INVALID_ARGUMENT', assert)
  await rejectsWith(attestBlob('a', signer, { predicate: '{}', blob: BLOB, digest }), 'INVALID_ARGUMENT', assert)
  await rejectsWith(attestBlob('a', signer, { predicate: '{}', blob: BLOB, format: 'v3' }), 'INVALID_ARGUMENT', assert)
  await rejectsWith(attestBlob('a', signer, { predicate: 'not json', blob: BLOB, predicateType: 'https://example.com/p/v1' }), 'INVALID_PREDICATE', assert)
})
