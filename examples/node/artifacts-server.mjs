// A small HTTP endpoint over the ironsign Node binding (node:http, no framework):
//
//   GET /images/<reference>/artifacts
//
// answers with the image's signatures, verified against the configured trust root and policy,
// its attestations by predicate type (each type verified with the same trust and policy), its
// SBOM's media type, the artifact tree, and the verification instructions for end users (a
// Markdown and an HTML page and the cosign scripts, generated from the trust configuration).
// Everything is read straight from the registry; nothing is cached.
//
// Configuration: a JSON file named by the first argument or by IRONSIGN_ARTIFACTS_CONFIG, paths
// relative to the file:
//
//   {
//     "listen":   { "host": "127.0.0.1", "port": 8080 },          // port 0: any free port
//     "registry": { "insecureHttp": ["127.0.0.1:5000"], "caFile": null },
//     "trust":    { "roots": ["root.pem"], "intermediates": ["inter.pem"] },   // or "publicKeys": ["key.pub"]
//     "policy":   { "identity": "signer@example.com", "annotations": {} },     // or "identityRegexp"
//     "trustConfig": "trust.yaml"   // docs/trust-config.md: the instructions; also the trust and
//                                   // policy when "trust"/"policy" are not given
//   }
//
// Registry credentials come from Docker's and podman's files as for the CLI (DOCKER_CONFIG,
// REGISTRY_AUTH_FILE, ...). On start it prints `listening on http://HOST:PORT` on stdout.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { dirname, resolve } from 'node:path'
import { Policy, RegistryClient, TrustConfig, TrustRoot, instructions } from 'ironsign'

/** Loads the configuration file into the binding's objects. */
export function loadConfig(path) {
  const config = JSON.parse(readFileSync(path, 'utf8'))
  const base = dirname(resolve(path))
  const read = (p) => readFileSync(resolve(base, p))
  const trustConfig = config.trustConfig ? TrustConfig.fromFile(resolve(base, config.trustConfig)) : null
  const trust = !config.trust && trustConfig
    ? trustConfig.trustRoot
    : config.trust?.publicKeys?.length
      ? TrustRoot.fromPublicKeys(config.trust.publicKeys.map(read))
      : TrustRoot.fromPem({ roots: config.trust.roots.map(read), intermediates: (config.trust.intermediates ?? []).map(read) })
  const registry = { ...config.registry }
  if (registry.caFile) registry.caFile = resolve(base, registry.caFile)
  return {
    listen: { host: '127.0.0.1', port: 0, ...config.listen },
    client: new RegistryClient(registry),
    trust,
    policy: !config.policy && trustConfig ? trustConfig.policy : new Policy(config.policy ?? {}),
    trustConfig,
  }
}

const errorJson = (e) => ({ code: e.code ?? 'INTERNAL', family: e.family ?? null, message: e.message, details: e.details ?? null })

/**
 * How end users verify the image: pages and cosign scripts from the trust configuration, or null
 * when none is configured or it does not cover the image (`reason` says so).
 */
export function verificationInstructions(trustConfig, pinned) {
  if (!trustConfig) return null
  if (!trustConfig.covers(pinned)) return { trustConfig: trustConfig.name, covered: false, reason: `not covered by ${trustConfig.images.join(', ')}` }
  const file = (format) => instructions(format, trustConfig, pinned)
  return {
    trustConfig: trustConfig.name,
    covered: true,
    markdown: file('markdown')[0].content,
    html: file('html')[0].content,
    cosign: file('cosign'),
  }
}

/** The artifacts of one image: signatures (verified), attestation types (verified), SBOM, tree, instructions. */
export async function artifacts({ client, trust, policy, trustConfig }, reference) {
  const digest = await client.digestOf(reference) // fails fast: INVALID_REFERENCE, IMAGE_NOT_FOUND
  const pinned = `${reference.replace(/@sha256:[0-9a-f]+$/, '')}@${digest}`
  const [signatures, attestations, sbom, tree] = await Promise.all([
    client.verify(pinned, trust, policy).then(
      (r) => ({ verified: true, signatures: r.signatures.map(summarise), rejected: r.rejected }),
      (e) => ({ verified: false, signatures: [], rejected: e.details?.NoMatchingSignature?.rejections ?? [], error: errorJson(e) }),
    ),
    client.downloadAttestations(pinned).then(async (list) => {
      const types = [...new Set(list.map((a) => a.predicateType).filter(Boolean))].sort()
      return Promise.all(
        types.map((predicateType) =>
          client.verifyAttestation(pinned, trust, policy, { predicateType }).then(
            (r) => ({ predicateType, count: list.filter((a) => a.predicateType === predicateType).length, verified: true, signers: r.attestations.map(summarise) }),
            (e) => ({ predicateType, count: list.filter((a) => a.predicateType === predicateType).length, verified: false, signers: [], error: errorJson(e) }),
          ),
        ),
      )
    }),
    client.downloadSbom(pinned).then(
      (s) => ({ mediaType: s.mediaType, size: s.size, layerDigest: s.layerDigest }),
      (e) => (e.code === 'NO_SIGNATURES' ? null : Promise.reject(e)),
    ),
    // Everything attached, per platform, each signature with its verification status.
    client.listArtifacts(pinned, trust, policy),
  ])
  return { reference, digest, signatures, attestations, sbom, tree, instructions: verificationInstructions(trustConfig, pinned) }
}

function summarise(s) {
  const signer = s.signer.kind === 'certificate'
    ? { kind: 'certificate', subject: s.signer.certificate.subject, issuer: s.signer.certificate.issuer, notAfter: s.signer.certificate.notAfter, chain: s.signer.chain }
    : { kind: 'key', fingerprint: s.signer.fingerprint }
  return { layerDigest: s.layerDigest, identity: s.matchedIdentity, signer, annotations: s.payload?.optional }
}

const STATUS = { input: 400, IMAGE_NOT_FOUND: 404, registry: 502 }

/** The HTTP server; `listen()` it yourself, or run this file. */
export function makeServer(context) {
  return createServer(async (req, res) => {
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body, null, 2))
    }
    const url = new URL(req.url, 'http://localhost')
    const m = url.pathname.match(/^\/images\/(.+)\/artifacts$/)
    if (req.method !== 'GET' || !m) return send(404, { error: { code: 'NOT_FOUND', message: 'GET /images/<reference>/artifacts' } })
    try {
      send(200, await artifacts(context, decodeURIComponent(m[1])))
    } catch (e) {
      send(STATUS[e.code] ?? STATUS[e.family] ?? 500, { error: errorJson(e) })
    }
  })
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = process.argv[2] ?? process.env.IRONSIGN_ARTIFACTS_CONFIG
  if (!path) {
    console.error('usage: artifacts-server.mjs CONFIG.json (or IRONSIGN_ARTIFACTS_CONFIG)')
    process.exit(2)
  }
  const context = loadConfig(path)
  const server = makeServer(context)
  server.listen(context.listen.port, context.listen.host, () => {
    const { address, port } = server.address()
    console.log(`listening on http://${address}:${port}`)
  })
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)))
}
