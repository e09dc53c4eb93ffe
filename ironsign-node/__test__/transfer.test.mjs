// copy, save and load (directory and tar), listArtifacts, gcPlan and gcApply against a real registry.
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Policy, RegistryClient, Signer, TrustRoot } from 'ironsign'
import { makeImage, makePki, rejectsWith, startRegistry, tempDir } from './helpers.mjs'

let registry, pki, reg, signer, trust, policy, tmp
before(() => {
  registry = startRegistry('transfer')
  pki = makePki()
  reg = new RegistryClient({ insecureHttp: [registry.addr], configFiles: [] })
  signer = Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain: pki.read('chain.pem') })
  trust = TrustRoot.fromPem({ roots: [pki.read('root.pem')], intermediates: [pki.read('inter.pem')] })
  policy = new Policy({ identity: 'signer@example.com' })
  tmp = tempDir()
})
after(() => {
  registry?.stop()
  tmp?.remove()
})

let counter = 0
const repo = (name) => `${registry.addr}/node/${name}-${process.pid}-${counter++}`

async function signedImage(name) {
  const image = makeImage(registry.addr, `node/${name}-${process.pid}-${counter++}`)
  await reg.sign(image.pinned, signer)
  return image
}

describe('transfer', () => {
  test('copy keeps digests, verifies on the destination, and a re-run copies nothing', async () => {
    const image = await signedImage('copy')
    const dst = repo('copy-dst')
    const report = await reg.copy(image.tagged, dst)
    assert.equal(report.digest, image.digest)
    assert.equal(report.tag, 'v1')
    assert.deepEqual(report.manifests, { copied: 2, skipped: 0 })
    assert.ok(report.blobs.mounted > 0)
    assert.deepEqual(report.attachments.map((a) => a.kind), ['signature'])
    const verified = await reg.verify(`${dst}:v1`, trust, policy)
    assert.equal(verified.digest, image.digest)
    const again = await reg.copy(image.tagged, dst)
    assert.deepEqual([again.manifests.copied, again.blobs.copied, again.bytesCopied], [0, 0, 0])
    const only = await reg.copy(image.tagged, repo('only'), { only: ['sig'] })
    assert.equal(only.image, false)
    await rejectsWith(reg.copy(image.tagged, dst, { only: ['bogus'] }), 'INVALID_ARGUMENT', assert)
  })

  test('save and load through a directory and a tar; a tampered blob is refused', async () => {
    const image = await signedImage('save')
    const dir = join(tmp.dir, 'layout')
    const saved = await reg.save(image.tagged, { dir })
    assert.equal(saved.digest, image.digest)
    const dst = repo('loaded')
    const loaded = await reg.load(dst, { dir })
    assert.equal(loaded.tag, 'v1')
    await reg.verify(`${dst}:v1`, trust, policy)
    const tar = join(tmp.dir, 'image.tar')
    await reg.save(image.pinned, { tar })
    const fromTar = await reg.load(`${dst}:from-tar`, { tar })
    assert.equal(fromTar.digest, image.digest)
    await rejectsWith(reg.save(image.pinned, {}), 'INVALID_ARGUMENT', assert)
    const blobs = join(dir, 'blobs', 'sha256')
    const largest = readdirSync(blobs).sort((a, b) => statSync(join(blobs, b)).size - statSync(join(blobs, a)).size)[0]
    const data = readFileSync(join(blobs, largest))
    data[5] ^= 1
    writeFileSync(join(blobs, largest), data)
    const error = await rejectsWith(reg.load(repo('tampered'), { dir }), 'REGISTRY_DIGEST_MISMATCH', assert)
    assert.ok(error.message.includes(largest), error.message)
  })

  test('listArtifacts, gcPlan and gcApply', async () => {
    const image = await signedImage('gc')
    const tree = await reg.listArtifacts(image.tagged)
    assert.equal(tree.digest, image.digest)
    assert.equal(tree.signatures.entries.length, 1)
    assert.equal(tree.signatures.entries[0].status.state, 'not_checked')
    // With trust and policy, each signature's status; one without the other is refused.
    const checked = await reg.listArtifacts(image.tagged, trust, policy)
    assert.equal(checked.signatures.entries[0].status.state, 'verified')
    await rejectsWith(reg.listArtifacts(image.tagged, trust, null), 'INVALID_ARGUMENT', assert)
    const repository = image.tagged.slice(0, image.tagged.lastIndexOf(':'))
    const [host, name] = [registry.addr, repository.slice(registry.addr.length + 1)]
    const response = await fetch(`http://${host}/v2/${name}/manifests/${image.digest}`, { method: 'DELETE' })
    assert.equal(response.status, 202)
    const plan = await reg.gcPlan([repository])
    assert.equal(plan.summary.orphans, 1)
    assert.equal(plan.repositories[0].orphans[0].reason, 'subject_missing')
    const report = await reg.gcApply(plan)
    assert.equal(report.summary.deleted, 1)
    await rejectsWith(reg.gcApply(plan), 'INVALID_ARGUMENT', assert)
    assert.equal((await reg.gcPlan([repository])).summary.orphans, 0)
    await rejectsWith(reg.gcPlan([image.tagged]), 'INVALID_ARGUMENT', assert)
  })
})
