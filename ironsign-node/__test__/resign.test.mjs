// resignPlan and resignApply against a real registry: the plan names exactly the image signed by
// the old certificate, applying signs it with the new one (the old signature stays), and a second
// plan is empty. Modelled on tests/tests/rotation.rs.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Policy, RegistryClient, Signer, TrustRoot, inspectCertificate } from 'ironsign'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeImage, makePki, rejectsWith, script, startRegistry, tempDir } from './helpers.mjs'

let registry, pki, reg, oldSigner, newSigner, trust, policy
before(() => {
  registry = startRegistry('resign')
  pki = makePki()
  reg = new RegistryClient({ insecureHttp: [registry.addr], configFiles: [] })
  const chain = pki.read('chain.pem')
  oldSigner = Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain })
  newSigner = Signer.fromKeyPem(pki.read('leaf-rsa.key'), { certificate: pki.read('leaf-rsa.pem'), chain })
  trust = TrustRoot.fromPem({ roots: [pki.read('root.pem')], intermediates: [pki.read('inter.pem')] })
  policy = new Policy({ identity: 'signer@example.com' })
})
after(() => registry?.stop())

let counter = 0
function image(name) {
  const made = makeImage(registry.addr, `node/resign-${name}-${process.pid}-${counter++}`)
  const repository = made.tagged.slice(0, made.tagged.lastIndexOf(':'))
  return { ...made, repository, ref: `${repository}@${made.digest}` }
}

describe('resign', () => {
  test('plan, apply, converge', async () => {
    const [old, current, unsigned] = [image('old'), image('new'), image('unsigned')]
    await reg.sign(old.ref, oldSigner)
    await reg.sign(current.ref, newSigner)
    const repos = [old.repository, current.repository, unsigned.repository]
    const byOld = { signedBy: pki.read('leaf.pem') }

    const plan = await reg.resignPlan(repos, trust, policy, byOld)
    assert.deepEqual(plan.candidates.map((c) => c.image), [old.ref])
    assert.deepEqual(plan.candidates[0].tags, ['v1'])
    const oldCertificate = inspectCertificate(pki.read('leaf.pem')).certificates[0]
    assert.equal(plan.candidates[0].signer.sha256Fingerprint, oldCertificate.sha256Fingerprint)
    assert.equal(typeof plan.candidates[0].expiresInDays, 'number')
    assert.deepEqual(plan.skipped.map((s) => s.reason).sort(), ['NO_SIGNATURES', 'not_due'])
    assert.deepEqual(plan.errors, [])
    assert.equal(typeof plan.planId, 'string')
    const within = async (days) => (await reg.resignPlan(repos, trust, policy, { expiresWithinDays: days })).candidates
    assert.equal((await within(400)).length, 2)
    assert.equal((await within(30)).length, 0)

    // The binding applies its own copy of the plan: edits to the JS object change nothing.
    plan.candidates.push({ ...plan.candidates[0], image: unsigned.ref })
    const report = await reg.resignApply(plan, newSigner)
    assert.deepEqual(report, { signed: [old.ref], failed: [] })
    await rejectsWith(reg.resignApply(plan, newSigner), 'INVALID_ARGUMENT', assert)
    await rejectsWith(reg.resignApply({ candidates: [] }, newSigner), 'INVALID_ARGUMENT', assert)
    const verified = await reg.verify(old.ref, trust, policy)
    assert.equal(new Set(verified.signatures.map((s) => s.signer.certificate.serial)).size, 2)
    assert.deepEqual((await reg.resignPlan(repos, trust, policy, byOld)).candidates, [])
  })

  test('refuses what verify refuses: a revoked signer is not re-signed', async () => {
    const revokedOnly = image('revoked')
    await reg.sign(revokedOnly.ref, oldSigner)
    const dir = tempDir()
    try {
      script('make-test-crl', [pki.dir, 'inter', join(dir.dir, 'crl.pem'), 'leaf'])
      const revoking = trust.withCrls(readFileSync(join(dir.dir, 'crl.pem')))
      const e = await rejectsWith(reg.verify(revokedOnly.ref, revoking, policy), 'NO_MATCHING_SIGNATURE', assert)
      assert.equal(e.details.NoMatchingSignature.rejections[0].code, 'CERT_REVOKED')
      const byOld = { signedBy: pki.read('leaf.pem') }
      const plan = await reg.resignPlan([revokedOnly.repository], revoking, policy, byOld)
      assert.deepEqual(plan.candidates, [])
      assert.deepEqual(plan.skipped, [{ image: revokedOnly.ref, reason: 'NO_MATCHING_SIGNATURE', rejections: ['CERT_REVOKED'] }])
      assert.deepEqual(await reg.resignApply(plan, newSigner), { signed: [], failed: [] })
      assert.equal((await reg.verify(revokedOnly.ref, trust, policy)).signatures.length, 1)
      // The CRL decided: without it the image is due.
      const without = await reg.resignPlan([revokedOnly.repository], trust, policy, byOld)
      assert.deepEqual(without.candidates.map((c) => c.image), [revokedOnly.ref])
    } finally {
      dir.remove()
    }
  })

  test('the new signatures carry the policy annotations, so the plan converges', async () => {
    const annotated = image('annotated')
    await reg.sign(annotated.ref, oldSigner, { annotations: { env: 'prod' } })
    const prod = new Policy({ identity: 'signer@example.com', annotations: { env: 'prod' } })
    const byOld = { signedBy: pki.read('leaf.pem') }
    const plan = await reg.resignPlan([annotated.repository], trust, prod, byOld)
    assert.deepEqual(plan.annotations, { env: 'prod' })
    assert.deepEqual((await reg.resignApply(plan, newSigner)).signed, [annotated.ref])
    assert.equal((await reg.verify(annotated.ref, trust, prod)).signatures.length, 2)
    assert.deepEqual((await reg.resignPlan([annotated.repository], trust, prod, byOld)).candidates, [])
  })

  test('arguments', async () => {
    const repo = `${registry.addr}/node/any`
    await rejectsWith(reg.resignPlan([repo], trust, policy, {}), 'INVALID_ARGUMENT', assert)
    const both = { expiresWithinDays: 1, signedBy: pki.read('leaf.pem') }
    await rejectsWith(reg.resignPlan([repo], trust, policy, both), 'INVALID_ARGUMENT', assert)
    await rejectsWith(reg.resignPlan([`${repo}:tag`], trust, policy, { expiresWithinDays: 1 }), 'INVALID_ARGUMENT', assert)
    await rejectsWith(reg.resignPlan([repo], trust, policy, { signedBy: 'not a certificate' }), 'CERT_PARSE', assert)
  })
})
