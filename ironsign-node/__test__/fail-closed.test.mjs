// Fail closed: every trust, policy and timestamp option of the verifying calls changes the outcome
// on a case built for it (the options are read from index.d.ts, so a new option without a case
// fails here), and the binding gives every PKI fixture the verdict and rejection code the CLI gives
// (`ironsign verify --output json`). The Python suite has the same cases (test_fail_closed.py).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Policy, RegistryClient, Signer, TrustRoot, attestBlob, signBlob } from 'ironsign'
import { PACKAGE, ironsignBin, makeImage, makeImages, makePki, script, startRegistry, tempDir } from './helpers.mjs'

const IDENTITY = 'signer@example.com'
const SUBJECT = 'CN=Ironsign Test Signer,OU=Pipeline,O=Ironsign Test,C=US'
const REFUSED = 'NO_MATCHING_SIGNATURE'
const DTS = readFileSync(join(PACKAGE, 'index.d.ts'), 'utf8')

function block(kind, name) {
  const m = DTS.match(new RegExp(`export (?:declare )?${kind} ${name} \\{([\\s\\S]*?)\\n\\}`))
  assert.ok(m, `${kind} ${name} is not in index.d.ts`)
  return m[1]
}
const fields = (name) => [...block('interface', name).matchAll(/^ {2}(\w+)\??:/gm)].map((m) => `${name}.${m[1]}`)
function parameters(cls, methods) {
  const out = []
  for (const m of block('class', cls).matchAll(/^ {2}(?:static )?(\w+)\(([^)]*)\)/gm)) {
    if (methods && !methods.includes(m[1])) continue
    for (const p of m[2].matchAll(/(\w+)(\?)?:/g)) {
      if (!methods || p[2]) out.push(`${cls}.${m[1]}(${p[1]})`)
    }
  }
  return out
}

/** The options of the verifying calls: trust constructors, Policy, and the optional arguments
 * and option objects of verifyAttestation, listArtifacts and resignPlan. */
function options() {
  return new Set([
    ...parameters('TrustRoot'),
    ...fields('TrustRootPem'),
    ...fields('PolicyOptions'),
    ...fields('VerifyAttestationOptions'),
    ...fields('RegoPolicySource'),
    ...parameters('RegistryClient', ['listArtifacts']).filter((p) => !p.endsWith('(options)')),
    ...fields('ListArtifactsOptions'),
    ...fields('ResignPlanOptions'),
  ])
}

let registry, pki, reg, w, files
before(async () => {
  registry = startRegistry('fail-closed')
  pki = makePki()
  files = tempDir()
  reg = new RegistryClient({ insecureHttp: [registry.addr], configFiles: [] })
  const tsaState = tempDir()
  const tsaUrl = script('tsa', ['start', tsaState.dir, pki.dir])
  const chain = pki.read('chain.pem')
  const signer = Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain })
  const repo = `node/fail-closed-${process.pid}`
  const [good, second] = makeImages(registry.addr, repo, 't', 2)
  try {
    await reg.sign(good, signer.withTimestampServer(`${tsaUrl}/ecdsa`), { annotations: { env: 'prod' } })
  } finally {
    script('tsa', ['stop', tsaState.dir])
    tsaState.remove()
  }
  await reg.sign(second, signer)
  await reg.attest(good, signer, { predicate: { a: 1 } })
  let n = 0
  const signed = async (key, cert, withChain = true) => {
    const image = makeImage(registry.addr, `node/fail-closed-${process.pid}-${n++}`).pinned
    const options = cert ? { certificate: pki.read(cert), chain: withChain ? chain : undefined } : undefined
    await reg.sign(image, Signer.fromKeyPem(pki.read(key), options))
    return image
  }
  const index = script('make-test-image', [`${registry.addr}/node/fail-closed-index-${process.pid}:v1`, '--platforms', 'linux/amd64,linux/arm64'])
    .split('\n')
    .pop()
    .split('@')[0]
  await reg.sign(index, signer, { recursive: true })
  const crl = join(files.dir, 'revokes-leaf.crl')
  script('make-test-crl', [pki.dir, 'inter', crl, 'leaf'])
  w = {
    good,
    chainless: await signed('leaf.key', 'leaf.pem', false),
    noeku: await signed('leaf-noeku.key', 'leaf-noeku.pem'),
    otherid: await signed('leaf-otherid.key', 'leaf-otherid.pem'),
    keyOnly: await signed('leaf.key'),
    index,
    repo: `${registry.addr}/${repo}`,
    crl: readFileSync(crl),
    otherPub: Signer.fromKeyPem(pki.read('leaf-rsa.key')).publicKeyPem,
    trust: TrustRoot.fromPem({ roots: pki.read('root.pem'), intermediates: pki.read('inter.pem') }),
    policy: new Policy({ identity: IDENTITY }),
  }
})
after(() => {
  registry?.stop()
  files?.remove()
})

/** A string the call resolves to, `ok` for any other value, or the error code (with the
 * rejection codes). */
async function outcome(call) {
  try {
    const value = await call()
    return typeof value === 'string' ? value : 'ok'
  } catch (e) {
    assert.equal(e.name, 'IronsignError', e.stack)
    const rejections = e.details?.NoMatchingSignature?.rejections
    return rejections ? `${e.code}:${rejections.map((r) => r.code).join(',')}` : e.code
  }
}

/** A case: each call has the outcome beside it (or one of several: a bound may truncate or refuse). */
const cases = (...pairs) => async () => {
  for (const [call, expected] of pairs) {
    const actual = await outcome(call)
    assert.ok([expected].flat().includes(actual), `${actual} is not ${expected} (${call})`)
  }
}

const verify = (image, trust, policy) => () => reg.verify(image(), trust ? trust() : w.trust, policy ? policy() : w.policy)
const good = () => w.good
const chainless = () => w.chainless
const otherid = () => w.otherid
const noeku = () => w.noeku
const keyOnly = () => w.keyOnly
const pem = (name) => () => TrustRoot.fromPem({ roots: pki.read(name) })
const ident = (o) => () => new Policy(o)
const states = (tree) => JSON.stringify([...JSON.stringify(tree).matchAll(/"state":"(\w+)"/g)].map((m) => m[1]))
const resign = (o) => reg.resignPlan([w.repo], w.trust, w.policy, o)
const wholeRegistry = (o = {}) => reg.resignPlan([], w.trust, w.policy, { allRepositories: registry.addr, expiresWithinDays: 400, ...o })
const examined = (p) => p.candidates.length + p.skipped.length + p.errors.length
// Blobs: a Sigstore bundle of BLOB's signature, and of an attestation about it.
const BLOB = Buffer.from('fail-closed blob\n')
const blobSigner = () => Signer.fromKeyPem(pki.read('leaf.key'), { certificate: pki.read('leaf.pem'), chain: pki.read('chain.pem') })
const blobBundle = async (blob = BLOB) => (await signBlob(blob, blobSigner())).sigstoreBundle()
const attestationBundle = async () => (await attestBlob('app.tgz', blobSigner(), { predicate: '{}', blob: BLOB })).sigstoreBundle()
const verifyBlob = (blob, policy, evidence) => async () => w.trust.verifyBlob(blob, policy ?? w.policy, evidence ?? { bundle: await blobBundle() })
const verifyBlobAttestation = (policy, options = {}) => async () =>
  w.trust.verifyBlobAttestation(policy ?? w.policy, { blob: BLOB, bundle: await attestationBundle(), ...options })
const DENY = 'package signature\n\ndefault allow = false\n'

const CASES = {
  // Trust material: the right value accepts, another refuses.
  'TrustRoot.fromPem(pem)': cases([verify(good, pem('root.pem')), 'ok'], [verify(good, pem('other-root.pem')), `${REFUSED}:CERT_UNTRUSTED_CHAIN`]),
  'TrustRootPem.roots': cases(
    [verify(good, () => TrustRoot.fromPem({ roots: [pki.read('other-root.pem'), pki.read('root.pem')] })), 'ok'],
    [verify(good, () => TrustRoot.fromPem({ roots: [pki.read('other-root.pem')] })), `${REFUSED}:CERT_UNTRUSTED_CHAIN`],
  ),
  'TrustRootPem.intermediates': cases(
    [verify(chainless, pem('root.pem')), `${REFUSED}:CERT_UNTRUSTED_CHAIN`],
    [verify(chainless, () => TrustRoot.fromPem({ roots: pki.read('root.pem'), intermediates: pki.read('inter.pem') })), 'ok'],
  ),
  'TrustRoot.fromChainPem(chain)': cases(
    [verify(good, () => TrustRoot.fromChainPem(pki.read('chain.pem'))), 'ok'],
    [verify(good, () => TrustRoot.fromChainPem(pki.read('other-chain.pem'))), `${REFUSED}:CERT_UNTRUSTED_CHAIN`],
  ),
  'TrustRoot.fromPublicKeys(keys)': cases(
    [verify(keyOnly, () => TrustRoot.fromPublicKeys(pki.read('leaf.pub')), ident()), 'ok'],
    [verify(keyOnly, () => TrustRoot.fromPublicKeys([w.otherPub]), ident()), `${REFUSED}:BAD_SIGNATURE`],
  ),
  // `good` carries a timestamp: verified against the TSA roots given, ignored without any.
  'TrustRoot.withTimestampAuthorities(pem)': cases(
    [async () => String((await reg.verify(w.good, w.trust, w.policy)).signatures[0].checks.includes('timestamp')), 'false'],
    [async () => String((await reg.verify(w.good, w.trust.withTimestampAuthorities(pki.read('tsa-ecdsa-chain.pem')), w.policy)).signatures[0].checks.includes('timestamp')), 'true'],
    [verify(good, () => w.trust.withTimestampAuthorities(pki.read('other-root.pem'))), `${REFUSED}:TIMESTAMP_UNTRUSTED`],
  ),
  'TrustRoot.verifyBlob(blob)': cases([verifyBlob(BLOB), 'ok'], [verifyBlob(Buffer.from('another blob')), `${REFUSED}:DIGEST_MISMATCH`]),
  'TrustRoot.verifyBlob(policy)': cases(
    [verifyBlob(BLOB), 'ok'],
    [verifyBlob(BLOB, new Policy({ identity: 'x@example.com' })), `${REFUSED}:IDENTITY_MISMATCH`],
  ),
  'TrustRoot.verifyBlob(evidence)': cases(
    [async () => verifyBlob(BLOB, null, { bundle: await blobBundle() })(), 'ok'],
    [async () => verifyBlob(BLOB, null, { bundle: await blobBundle(Buffer.from('another blob')) })(), `${REFUSED}:DIGEST_MISMATCH`],
    [verifyBlob(BLOB, null, {}), 'INVALID_ARGUMENT'],
  ),
  'TrustRoot.verifyBlobAttestation(policy)': cases(
    [verifyBlobAttestation(), 'ok'],
    [verifyBlobAttestation(new Policy({ identity: 'x@example.com' })), `${REFUSED}:IDENTITY_MISMATCH`],
  ),
  'TrustRoot.verifyBlobAttestation(options)': cases(
    [verifyBlobAttestation(null, { predicateType: 'custom' }), 'ok'],
    [verifyBlobAttestation(null, { predicateType: 'slsaprovenance' }), `${REFUSED}:PREDICATE_TYPE_MISMATCH`],
    [verifyBlobAttestation(null, { blob: Buffer.from('another blob') }), `${REFUSED}:SUBJECT_MISMATCH`],
  ),
  'TrustRoot.withCrls(crls)': cases([verify(good), 'ok'], [verify(good, () => w.trust.withCrls(w.crl)), `${REFUSED}:CERT_REVOKED`]),
  // Policy: the core's rules (one identity form, no empty list or value), each form honoured.
  'PolicyOptions.identity': cases(
    [verify(good, null, ident({ identity: IDENTITY })), 'ok'],
    [verify(otherid, null, ident({ identity: IDENTITY })), `${REFUSED}:IDENTITY_MISMATCH`],
    [ident({ identity: [] }), 'INVALID_ARGUMENT'],
  ),
  'PolicyOptions.identityRegexp': cases(
    [verify(good, null, ident({ identityRegexp: '^signer@' })), 'ok'],
    [verify(good, null, ident({ identityRegexp: '^someone@' })), `${REFUSED}:IDENTITY_MISMATCH`],
    [ident({ identityRegexp: '' }), 'INVALID_ARGUMENT'],
    [ident({ identity: IDENTITY, identityRegexp: '^x' }), 'INVALID_ARGUMENT'],
  ),
  'PolicyOptions.subject': cases(
    [verify(good, null, ident({ subject: SUBJECT })), 'ok'],
    [verify(good, null, ident({ subject: 'CN=Someone' })), `${REFUSED}:IDENTITY_MISMATCH`],
  ),
  'PolicyOptions.subjectRegexp': cases(
    [verify(good, null, ident({ subjectRegexp: 'CN=Ironsign Test Signer' })), 'ok'],
    [verify(good, null, ident({ subjectRegexp: 'CN=Someone' })), `${REFUSED}:IDENTITY_MISMATCH`],
  ),
  'PolicyOptions.annotations': cases(
    [verify(good, null, ident({ identity: IDENTITY, annotations: { env: 'prod' } })), 'ok'],
    [verify(good, null, ident({ identity: IDENTITY, annotations: { env: 'dev' } })), `${REFUSED}:ANNOTATION_MISMATCH`],
  ),
  'PolicyOptions.requireCodeSigningEku': cases(
    [verify(noeku), 'ok'],
    [verify(noeku, null, ident({ identity: IDENTITY, requireCodeSigningEku: true })), `${REFUSED}:CERT_NO_CODE_SIGNING`],
  ),
  'PolicyOptions.dangerousAnyIdentity': cases(
    [verify(otherid, null, ident({ dangerousAnyIdentity: true })), 'ok'],
    [verify(otherid, null, ident()), 'INVALID_ARGUMENT'],
    [ident({ identity: IDENTITY, dangerousAnyIdentity: true }), 'INVALID_ARGUMENT'],
  ),
  // Attestations: the predicate type and the Rego policies (before this test, accepted by no call).
  'VerifyAttestationOptions.predicateType': cases(
    [() => reg.verifyAttestation(w.good, w.trust, w.policy, { predicateType: 'custom' }), 'ok'],
    [() => reg.verifyAttestation(w.good, w.trust, w.policy, { predicateType: 'vuln' }), `${REFUSED}:PREDICATE_TYPE_MISMATCH`],
  ),
  'VerifyAttestationOptions.regoPolicies': cases(
    [() => reg.verifyAttestation(w.good, w.trust, w.policy, { regoPolicies: [] }), 'ok'],
    [() => reg.verifyAttestation(w.good, w.trust, w.policy, { regoPolicies: [{ source: DENY }] }), 'POLICY_DENIED'],
  ),
  'RegoPolicySource.source': cases([() => reg.verifyAttestation(w.good, w.trust, w.policy, { regoPolicies: [{ source: 'package other' }] }), 'INVALID_POLICY']),
  'RegoPolicySource.name': cases([
    async () => {
      try {
        await reg.verifyAttestation(w.good, w.trust, w.policy, { regoPolicies: [{ source: DENY, name: 'deny-all.rego' }] })
      } catch (e) {
        return `${e.code}:${e.details.PolicyDenied.policy}`
      }
    },
    'POLICY_DENIED:deny-all.rego',
  ]),
  // The tree: trust and policy verify each signature; one without the other is refused.
  'RegistryClient.listArtifacts(trust)': cases(
    [async () => states(await reg.listArtifacts(w.good)), '["not_checked"]'],
    [async () => states(await reg.listArtifacts(w.good, w.trust, w.policy)), '["verified"]'],
    [async () => states(await reg.listArtifacts(w.good, pem('other-root.pem')(), w.policy)), '["rejected"]'],
    [() => reg.listArtifacts(w.good, w.trust), 'INVALID_ARGUMENT'],
  ),
  'RegistryClient.listArtifacts(policy)': cases(
    [async () => states(await reg.listArtifacts(w.good, w.trust, new Policy({ identity: 'x@example.com' }))), '["rejected"]'],
    [() => reg.listArtifacts(w.good, null, w.policy), 'INVALID_ARGUMENT'],
  ),
  'ListArtifactsOptions.platforms': cases([
    async () => JSON.stringify(await Promise.all([true, false].map(async (platforms) => (await reg.listArtifacts(w.index, null, null, { platforms })).platforms.length))),
    '[2,0]',
  ]),
  // Re-signing: each option changes the plan.
  'ResignPlanOptions.expiresWithinDays': cases([async () => `${(await resign({ expiresWithinDays: 400 })).candidates.length},${(await resign({ expiresWithinDays: 30 })).candidates.length}`, '2,0']),
  'ResignPlanOptions.signedBy': cases([async () => `${(await resign({ signedBy: pki.read('leaf.pem') })).candidates.length},${(await resign({ signedBy: pki.read('leaf-rsa.pem') })).candidates.length}`, '2,0']),
  'ResignPlanOptions.maxTags': cases(
    [async () => String((await resign({ expiresWithinDays: 400 })).candidates.length), '2'],
    [async () => String((await resign({ expiresWithinDays: 400, maxTags: 1 })).candidates.length < 2), ['true', 'REGISTRY_TOO_MANY']],
  ),
  'ResignPlanOptions.allRepositories': cases(
    // Candidates are named `repository@digest`; `good` carries its tag too.
    [async () => String((await wholeRegistry()).candidates.some((c) => c.image === w.good.replace(/:[^/@]+@/, '@'))), 'true'],
    [async () => String((await reg.resignPlan([], w.trust, w.policy, { expiresWithinDays: 400 })).candidates.length), '0'],
  ),
  'ResignPlanOptions.maxRepositories': cases([
    async () => String(examined(await wholeRegistry({ maxRepositories: 1 })) < examined(await wholeRegistry())),
    ['true', 'REGISTRY_TOO_MANY'],
  ]),
}

describe('no silent options', () => {
  test('every option in index.d.ts has a case', () => {
    assert.deepEqual([...options()].sort(), Object.keys(CASES).sort())
  })
  for (const [option, run] of Object.entries(CASES)) {
    test(option, run)
  }
})

describe('two roads, one answer', () => {
  test('the binding and the CLI give every fixture the same verdict and code', async () => {
    const out = tempDir()
    try {
      const fx = JSON.parse(script('make-verdict-fixtures', [registry.addr, pki.dir, out.dir, ironsignBin()]))
      const trust = TrustRoot.fromPem({ roots: fx.roots.map((r) => readFileSync(r)) }).withCrls(readFileSync(fx.crl))
      const policy = new Policy({ identity: fx.identity })
      const seen = {}
      for (const [name, image] of Object.entries(fx.fixtures)) {
        const api = await outcome(() => reg.verify(image, trust, policy))
        const cli = cliOutcome(image, fx)
        assert.equal(api, cli, `${name}: Node says ${api}, the CLI says ${cli}`)
        assert.equal(api, fx.expected[name] === null ? 'ok' : `${REFUSED}:${fx.expected[name]}`, name)
        seen[name] = api
      }
      assert.equal(new Set(Object.values(seen)).size, Object.keys(seen).length, JSON.stringify(seen))
    } finally {
      out.remove()
    }
  })
})

function cliOutcome(image, fx) {
  const args = ['verify', ...fx.roots.flatMap((r) => ['--ca-roots', r]), '--crl', fx.crl, '--certificate-identity', fx.identity, '-o', 'json', image]
  const run = spawnSync(ironsignBin(), args, { encoding: 'utf8' })
  if (run.status === 0) return 'ok'
  const error = JSON.parse(run.stdout).error
  const rejections = error.details?.NoMatchingSignature?.rejections
  return rejections ? `${error.code}:${rejections.map((r) => r.code).join(',')}` : error.code
}
