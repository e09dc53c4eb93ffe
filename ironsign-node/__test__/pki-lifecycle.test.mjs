// Keys in a PKCS#11 token (SoftHSM2), RFC 3161 timestamps and CRLs through the binding.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Policy, RegistryClient, Signer, TrustRoot } from '../index.js'
import { ROOT, makeImage, makePki, rejectsWith, startRegistry, tempDir } from './helpers.mjs'

const SCRIPTS = join(ROOT, 'scripts')
const MODULE = '/usr/lib/softhsm/libsofthsm2.so'
const run = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8' }).trim()

let registry, pki, reg, tsaState, tsaUrl
before(() => {
  registry = startRegistry('pki-lifecycle')
  pki = makePki()
  reg = new RegistryClient({ insecureHttp: [registry.addr], configFiles: [] })
  tsaState = tempDir()
  tsaUrl = run(join(SCRIPTS, 'tsa'), ['start', tsaState.dir, pki.dir])
  // SoftHSM reads its configuration when the module is first initialised in this process.
  process.env.SOFTHSM2_CONF = run(join(SCRIPTS, 'softhsm-token'), [pki.path('softhsm'), pki.dir])
})
after(() => {
  run(join(SCRIPTS, 'tsa'), ['stop', tsaState.dir])
  tsaState.remove()
  registry.stop()
})

describe('PKI lifecycle', () => {
  test('a token key signs, with a timestamp that verifies', async () => {
    const signer = Signer.fromPkcs11Uri('pkcs11:token=ironsign;object=signer', {
      modulePath: MODULE,
      pin: '1234',
      chain: pki.read('chain.pem'),
    })
    assert.equal(signer.publicKeyPem.replace(/\r\n/g, '\n'), pki.read('leaf.pub'))
    const image = makeImage(registry.addr, 'node/hsm')
    await reg.sign(image.pinned, signer.withTimestampServer(`${tsaUrl}/rsa`))
    const trust = TrustRoot.fromPem({ roots: pki.read('root.pem') })
    const policy = new Policy({ identity: 'signer@example.com' })
    const res = await reg.verify(image.pinned, trust.withTimestampAuthorities(pki.read('tsa-rsa-chain.pem')), policy)
    assert.equal(res.signatures[0].checks[0], 'timestamp')
    const wrong = trust.withTimestampAuthorities(pki.read('other-root.pem'))
    await rejectsWith(reg.verify(image.pinned, wrong, policy), 'NO_MATCHING_SIGNATURE', assert)
  })

  test('errors carry codes', async () => {
    await rejectsWith(
      () => Signer.fromPkcs11Uri('pkcs11:token=ironsign;object=nope', { modulePath: MODULE, pin: '1234' }),
      'KEY_SIGNING_FAILED',
      assert,
    )
    const trust = TrustRoot.fromPem({ roots: pki.read('root.pem') })
    await rejectsWith(() => trust.withCrls(pki.read('root.pem')), 'CERT_PARSE', assert)
  })
})
