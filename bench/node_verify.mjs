#!/usr/bin/env node
// Verification and artifact listing of N signed images from Node, in-process through the binding,
// against the ironsign CLI run once per image (as a backend shelling out would). Also the example server's
// per-image artifact summary (signatures verified, attestation types verified, SBOM) against the
// CLI commands that give the same (verify, download attestation, verify-attestation, download sbom).
//
//   node bench/node_verify.mjs [--images 500] [--concurrency 64] [--cli-images N]
//
// Needs the binding built (ironsign-node/run-tests or `npx napi build --platform --release` in
// ironsign-node) and the CLI built in release mode ($CARGO_TARGET_DIR/release/ironsign, else debug).
// Starts its own registry on 127.0.0.1 and stops it. Prints a Markdown table.
import { execFileSync, execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { Policy, RegistryClient, Signer, TrustRoot } = (await import(join(ROOT, 'ironsign-node/index.mjs')))
const { artifacts } = await import(join(ROOT, 'examples/node/artifacts-server.mjs'))

const args = Object.fromEntries(process.argv.slice(2).join(' ').split('--').filter(Boolean).map((a) => a.trim().split(/\s+/)))
const N = Number(args.images ?? 500)
const CONCURRENCY = Number(args.concurrency ?? 64)
const CLI_N = Number(args['cli-images'] ?? N)
const TARGET = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/ironsign/target')
const CLI = ['release', 'debug'].map((p) => join(TARGET, p, 'ironsign')).find(existsSync)
if (!CLI) throw new Error(`no ironsign CLI under ${TARGET}/{release,debug}`)
const run = (cmd, a) => execFileSync(cmd, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
const execAsync = promisify(execFile)

async function pool(items, limit, fn) {
  const out = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i], i)
    }
  }))
  return out
}

async function timed(fn) {
  const t = performance.now()
  const r = await fn()
  return [(performance.now() - t) / 1000, r]
}

const state = mkdtempSync(join(tmpdir(), 'ironsign-node-bench-'))
process.env.IRONSIGN_STATE = state
const name = `node-bench-${process.pid}`
const addr = run(join(ROOT, 'scripts/registry'), ['start', name])
try {
  const pki = join(state, 'pki')
  run(join(ROOT, 'scripts/gen-test-pki'), [pki])
  const read = (f) => readFileSync(join(pki, f), 'utf8')
  const refs = run(join(ROOT, 'scripts/make-test-image'), [`${addr}/bench/node:img`, '--count', String(N)]).split('\n')
  const reg = new RegistryClient({ insecureHttp: [addr], configFiles: [] })
  const signer = Signer.fromKeyPem(read('leaf.key'), { certificate: read('leaf.pem'), chain: read('chain.pem') })
  const trust = TrustRoot.fromPem({ roots: [read('root.pem')], intermediates: [read('inter.pem')] })
  const policy = new Policy({ identity: 'signer@example.com' })
  const report = readFileSync(join(ROOT, 'ironsign-cli/tests/fixtures/scanners/trivy.json'))
  const sbom = readFileSync(join(ROOT, 'ironsign-cli/tests/fixtures/sbom/spdx-2.3.json'))

  const rows = []
  const row = (what, images, seconds) => rows.push(`| ${what} | ${images} | ${seconds.toFixed(2)} s | ${(images / seconds).toFixed(0)} | ${((seconds / images) * 1000).toFixed(2)} ms |`)

  let [s] = await timed(() => pool(refs, CONCURRENCY, (r) => reg.sign(r, signer)))
  row(`Node: sign, ${CONCURRENCY} in flight`, N, s)
  ;[s] = await timed(() => pool(refs, CONCURRENCY, async (r) => {
    await reg.attest(r, signer, { predicateType: 'vuln', predicate: report })
    await reg.attachSbom(r, sbom)
  }))
  row(`Node: attest (vuln) + attach SBOM, ${CONCURRENCY} in flight`, N, s)

  // Warm-up: the first call pays for the runtime and connections.
  await reg.verify(refs[0], trust, policy)
  ;[s] = await timed(() => pool(refs, 1, (r) => reg.verify(r, trust, policy)))
  row('Node in-process: verify, one at a time', N, s)
  ;[s] = await timed(() => pool(refs, CONCURRENCY, (r) => reg.verify(r, trust, policy)))
  row(`Node in-process: verify, ${CONCURRENCY} in flight`, N, s)
  ;[s] = await timed(() => Promise.all(refs.map((r) => reg.verify(r, trust, policy))))
  row(`Node in-process: verify, all ${N} at once`, N, s)

  const cliRefs = refs.slice(0, CLI_N)
  const verifyArgs = (r) => ['verify', '--output', 'json', '--certificate-chain', join(pki, 'chain.pem'), '--certificate-identity', 'signer@example.com', r]
  ;[s] = await timed(() => pool(cliRefs, 1, (r) => execAsync(CLI, verifyArgs(r))))
  row('CLI, one process per image: verify, one at a time', CLI_N, s)
  const cores = cpus().length
  ;[s] = await timed(() => pool(cliRefs, cores, (r) => execAsync(CLI, verifyArgs(r))))
  row(`CLI, one process per image: verify, ${cores} at a time`, CLI_N, s)

  // Artifact listing with each signature's verification status (the web front end's view),
  // in-process against `ironsign tree --output json` with the same trust, one process per image.
  await reg.listArtifacts(refs[0], trust, policy)
  ;[s] = await timed(() => pool(refs, 1, (r) => reg.listArtifacts(r, trust, policy)))
  row('Node in-process: listArtifacts with verification, one at a time', N, s)
  ;[s] = await timed(() => pool(refs, CONCURRENCY, (r) => reg.listArtifacts(r, trust, policy)))
  row(`Node in-process: listArtifacts with verification, ${CONCURRENCY} in flight`, N, s)
  const treeArgs = (r) => ['tree', '--output', 'json', '--certificate-chain', join(pki, 'chain.pem'), '--certificate-identity', 'signer@example.com', r]
  ;[s] = await timed(() => pool(cliRefs, 1, (r) => execAsync(CLI, treeArgs(r))))
  row('CLI, one process per image: tree --output json with verification, one at a time', CLI_N, s)
  ;[s] = await timed(() => pool(cliRefs, cores, (r) => execAsync(CLI, treeArgs(r))))
  row(`CLI, one process per image: tree --output json with verification, ${cores} at a time`, CLI_N, s)

  const context = { client: reg, trust, policy }
  ;[s] = await timed(() => pool(refs, 1, (r) => artifacts(context, r)))
  row('Node in-process: artifact summary (example server), one at a time', N, s)
  ;[s] = await timed(() => pool(refs, CONCURRENCY, (r) => artifacts(context, r)))
  row(`Node in-process: artifact summary, ${CONCURRENCY} in flight`, N, s)
  const chain = ['--certificate-chain', join(pki, 'chain.pem'), '--certificate-identity', 'signer@example.com']
  const cliArtifacts = async (r) => {
    await execAsync(CLI, verifyArgs(r))
    await execAsync(CLI, ['download', 'attestation', r])
    await execAsync(CLI, ['verify-attestation', '--type', 'vuln', '--output', 'json', ...chain, r])
    await execAsync(CLI, ['download', 'sbom', r], { maxBuffer: 64 << 20 })
  }
  ;[s] = await timed(() => pool(cliRefs, 1, cliArtifacts))
  row('CLI, 4 processes per image (verify, download attestation, verify-attestation, download sbom), one image at a time', CLI_N, s)

  console.log(`Images: ${N} on a local registry (127.0.0.1, Debian docker-registry); ${cores} cores, shared; Node ${process.version}; CLI ${CLI.replace(TARGET, '$CARGO_TARGET_DIR')}.\n`)
  console.log('| what | images | time | images/s | per image |')
  console.log('| --- | ---: | ---: | ---: | ---: |')
  for (const r of rows) console.log(r)
} finally {
  run(join(ROOT, 'scripts/registry'), ['stop', name])
  rmSync(state, { recursive: true, force: true })
}
