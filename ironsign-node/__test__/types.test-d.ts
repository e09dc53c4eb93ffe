// Type test: compiled with `tsc --noEmit` against the committed index.d.ts (never run).
import {
  Policy,
  RegistryClient,
  Signer,
  TrustRoot,
  SignedBlob,
  attestBlob,
  errorCodes,
  inspectCertificate,
  signBlob,
  type ArtifactTree,
  type BlobFormat,
  type BlobVerification,
  type AttestationResult,
  type GcPlan,
  type GcReport,
  type ResignPlan,
  type ResignReport,
  type ResultCacheStats,
  type TransferReport,
  type ErrorCode,
  type IronsignError,
  type SbomDownload,
  type VerificationResult,
  type VerifyManyEntry,
} from '../index'

async function main(rootPem: string, keyPem: Buffer): Promise<void> {
  const reg = new RegistryClient({ insecureHttp: ['127.0.0.1:5000'], caFile: null, auth: { username: 'u', password: 'p' } })
  new RegistryClient()
  const trust: TrustRoot = TrustRoot.fromPem({ roots: [rootPem], intermediates: [] })
  TrustRoot.fromPublicKeys([keyPem, 'pem'])
  const policy = new Policy({ identity: 'signer@example.com', annotations: { env: 'prod' } })
  new Policy({ identityRegexp: ['^a$', '^b$'], requireCodeSigningEku: true })
  const signer = Signer.fromKeyPem(keyPem, { certificate: rootPem, chain: rootPem, password: 'pw' })
  const warnings: string[] = signer.warnings
  const kmsSigner: Signer = Signer.fromKmsUri('awskms:///alias/signer', { certificate: rootPem, chain: rootPem, strictEku: true })
  Signer.fromKmsUri('hashivault://signer')
  const kmsCode: ErrorCode = 'KMS_THROTTLED'

  const res: VerificationResult = await reg.verify('host/repo:tag', trust, policy)
  const digest: string = res.digest
  const first = res.signatures[0]
  if (first.signer.kind === 'certificate') {
    const emails: string[] = first.signer.certificate.emails
  } else {
    const fp: string = first.signer.fingerprint
  }
  const signed = await reg.sign('host/repo:tag', signer, { annotations: { a: 'b' } })
  const added: boolean = signed.signatures[0].added
  const att = await reg.attest('host/repo:tag', signer, { predicateType: 'vuln', predicate: { any: 'report' } })
  await reg.attest('host/repo:tag', signer, { predicateType: 'custom', predicate: Buffer.from('x') })
  const layer: string = att.layerDigest
  const verified: AttestationResult = await reg.verifyAttestation('host/repo:tag', trust, policy, { predicateType: 'vuln' })
  const predicateType: string = verified.attestations[0].statement.predicateType
  const sbom: SbomDownload = await reg.downloadSbom('host/repo:tag')
  const data: Buffer = sbom.data
  const mediaType: string = sbom.mediaType
  const atts = await reg.downloadAttestations('host/repo:tag', { predicateType: 'vuln' })
  const payloadType: string = atts[0].envelope.payloadType
  const attached = await reg.attachSbom('host/repo:tag', Buffer.from('{}'), { type: 'spdx' })
  const size: number = attached.size
  const report = inspectCertificate(rootPem)
  const role: 'leaf' | 'intermediate' | 'root' = report.certificates[0].role
  const codes: ErrorCode[] = errorCodes().map((c) => c.code)

  const blob: SignedBlob = await signBlob(Buffer.from('blob'), signer)
  const sig: Buffer = blob.signature
  const b64: string = blob.signatureBase64
  const bundles: Buffer[] = [blob.legacyBundle(), blob.sigstoreBundle()]
  const certOut: string | null = blob.certificateOutput
  const checked: BlobVerification = await trust.verifyBlob('blob', policy, { bundle: bundles[0] })
  const format: BlobFormat = checked.format
  const blobDigest: string | null = checked.digest
  const statement = await attestBlob('app.tgz', signer, { predicate: { a: 1 }, digest: 'sha256:00', format: 'detached' })
  const envelope: Buffer | null = statement.envelope
  const about: BlobVerification = await trust.verifyBlobAttestation(policy, { signature: envelope ?? '', checkClaims: false })
  const subjectName: string | undefined = about.statement?.subject[0].name

  try {
    await reg.verify('host/repo:tag', trust, policy)
  } catch (e) {
    const err = e as IronsignError
    const code: ErrorCode = err.code
    if (err.code === 'NO_MATCHING_SIGNATURE') {
      console.log(err.details, err.family)
    }
  }

  const batch: VerifyManyEntry[] = await reg.verifyMany(['host/a:1', 'host/b:1'], trust, policy, { maxConcurrency: 4 })
  await reg.verifyMany(['host/a:1'], trust, policy, { allSignatures: true })
  for (const entry of batch) {
    if (entry.error) {
      const failed: ErrorCode = entry.error.code
      void failed
    } else {
      const verifiedDigest: string = entry.result.digest
      void verifiedDigest
    }
  }
  const stats: ResultCacheStats = trust.resultCacheStats()
  const reused: number = stats.hits + stats.misses + stats.entries
  void reused
  // @ts-expect-error: the references are a list
  await reg.verifyMany('host/a:1', trust, policy)
  // @ts-expect-error: maxConcurrency is a number
  await reg.verifyMany(['host/a:1'], trust, policy, { maxConcurrency: 'all' })

  // @ts-expect-error: an unknown code is not an ErrorCode
  const bad: ErrorCode = 'NOT_A_CODE'
  // @ts-expect-error: the reference is a string
  await reg.verify(42, trust, policy)
  // @ts-expect-error: the SBOM type is one of three
  await reg.attachSbom('r', Buffer.from(''), { type: 'word' })
  void [warnings, digest, added, layer, predicateType, data, mediaType, payloadType, size, role, codes, bad]
}
void main

async function transfer(reg: RegistryClient): Promise<void> {
  const copied: TransferReport = await reg.copy('a/b:c', 'd/e', { only: ['sig', 'referrer'], force: true, maxWorkers: 2 })
  const bytes: number = copied.bytesCopied
  const saved: TransferReport = await reg.save('a/b:c', { tar: 'x.tar' })
  await reg.load('d/e:f', { dir: 'layout' }, { force: false })
  const tree: ArtifactTree = await reg.listArtifacts('a/b:c', null, null, { platforms: false })
  const plan: GcPlan = await reg.gcPlan(['a/b'], { includeUntagged: true, olderThan: '30d' })
  const report: GcReport = await reg.gcApply(plan, 4)
  void [bytes, saved, tree, report.summary.deleted]
}
void transfer

async function resign(reg: RegistryClient, trust: TrustRoot, policy: Policy, signer: Signer, pem: string): Promise<void> {
  const plan: ResignPlan = await reg.resignPlan(['a/b'], trust, policy, { expiresWithinDays: 30, maxTags: 10 })
  const byCert: ResignPlan = await reg.resignPlan([], trust, policy, { signedBy: pem, allRepositories: 'a' })
  const days: number = plan.candidates[0].expiresInDays
  const report: ResignReport = await reg.resignApply(byCert, signer)
  void [days, report.signed, report.failed]
}
void resign
