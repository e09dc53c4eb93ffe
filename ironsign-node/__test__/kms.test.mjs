// KMS keys: Signer.fromKmsUri against the local AWS KMS API server (scripts/kms-server) and a real
// OpenBao dev server (scripts/vault-server); the real cosign verifies by the public key. The
// provider configuration comes from the process environment, as in the CLI.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Policy, RegistryClient, Signer, TrustRoot } from '../index.js'
import { COSIGN, ironsignBin, makeImage, makePki, rejectsWith, script, startRegistry, tempDir } from './helpers.mjs'

const PROVIDER_VARIABLES = [
  'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_KMS', 'AWS_CA_BUNDLE', 'AWS_PROFILE', 'AWS_REGION', 'AWS_DEFAULT_REGION',
  'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'VAULT_ADDR', 'VAULT_TOKEN', 'VAULT_CACERT',
  'VAULT_SKIP_VERIFY',
]

let registry, reg, kmsState, kmsUrl, vaultState, vaultAddr, vaultToken, scratch
const saved = {}

/** Sets exactly these provider variables in this process (the others removed). */
function providerEnv(values) {
  for (const name of PROVIDER_VARIABLES) delete process.env[name]
  Object.assign(process.env, {
    AWS_CONFIG_FILE: join(scratch.dir, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: join(scratch.dir, 'none'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...values,
  })
}

const aws = (url) => ({
  AWS_ENDPOINT_URL_KMS: url, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing',
})

function cosignVerifies(image, publicKeyPem) {
  const key = join(scratch.dir, 'kms.pub')
  writeFileSync(key, publicKeyPem)
  execFileSync(COSIGN, ['verify', '--allow-http-registry', '--key', key, '--insecure-ignore-tlog', image.pinned], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

async function closedPort() {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

before(() => {
  for (const name of [...PROVIDER_VARIABLES, 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_EC2_METADATA_DISABLED']) {
    saved[name] = process.env[name]
  }
  registry = startRegistry('kms')
  reg = new RegistryClient({ insecureHttp: [registry.addr], configFiles: [] })
  scratch = tempDir()
  kmsState = tempDir()
  kmsUrl = script('kms-server', ['start', kmsState.dir]).split('\n')[0]
  vaultState = tempDir()
  ;[vaultAddr, vaultToken] = script('vault-server', ['start', vaultState.dir]).split(' ')
})
after(() => {
  script('kms-server', ['stop', kmsState.dir])
  script('vault-server', ['stop', vaultState.dir])
  for (const dir of [kmsState, vaultState, scratch]) dir.remove()
  registry.stop()
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
})

describe('KMS signers', () => {
  for (const spec of ['ECC_NIST_P256', 'RSA_3072']) {
    test(`an awskms ${spec} key signs; cosign verifies by its public key`, async () => {
      const alias = `alias/node-${spec.toLowerCase().replaceAll('_', '-')}`
      script('kms-server', ['create-key', kmsUrl, spec, alias])
      providerEnv(aws(kmsUrl))
      const signer = Signer.fromKmsUri(`awskms:///${alias}`)
      const image = makeImage(registry.addr, 'node/kms')
      await reg.sign(image.pinned, signer, { annotations: { via: 'node-kms' } })
      cosignVerifies(image, signer.publicKeyPem)
      const res = await reg.verify(image.pinned, TrustRoot.fromPublicKeys([signer.publicKeyPem]), new Policy({ annotations: { via: 'node-kms' } }))
      assert.equal(res.signatures[0].signer.kind, 'key')
    })
  }

  test('awskms errors carry codes', async () => {
    providerEnv(aws(kmsUrl))
    await rejectsWith(() => Signer.fromKmsUri('awskms:///alias/node-absent'), 'KMS_KEY_NOT_FOUND', assert)
    await rejectsWith(() => Signer.fromKmsUri('awskms:///not-a-key-id'), 'KEY_PARSE', assert)
    const keyId = script('kms-server', ['create-key', kmsUrl, 'ECC_NIST_P256', 'alias/node-disabled'])
    script('kms-server', ['disable-key', kmsUrl, keyId])
    await rejectsWith(() => Signer.fromKmsUri('awskms:///alias/node-disabled'), 'KMS_KEY_DISABLED', assert)
    providerEnv(aws(`http://127.0.0.1:${await closedPort()}`))
    await rejectsWith(() => Signer.fromKmsUri('awskms:///alias/node-disabled'), 'KMS_UNREACHABLE', assert)
  })

  test('an awskms key with a certificate without codeSigning: a finding, refused with strictEku', async () => {
    // The program's setup: a DoD-shaped certificate (serverAuth/clientAuth) issued from a CSR the KMS signed.
    const pki = makePki()
    script('kms-server', ['create-key', kmsUrl, 'ECC_NIST_P256', 'alias/node-dod'])
    providerEnv(aws(kmsUrl))
    const uri = 'awskms:///alias/node-dod'
    const [csr, extensions, cert] = ['kms.csr', 'extensions.cnf', 'kms.pem'].map((name) => join(scratch.dir, name))
    execFileSync(ironsignBin(), ['csr', '--key', uri, '--common-name', 'pipeline.example.mil', '--output-file', csr])
    writeFileSync(
      extensions,
      'keyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth, clientAuth\n' +
        'subjectAltName = DNS:pipeline.example.mil\n',
    )
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', pki.path('dod-inter.pem'), '-CAkey',
      pki.path('dod-inter.key'), '-days', '30', '-extfile', extensions, '-out', cert], { stdio: 'pipe' })
    const material = { certificate: readFileSync(cert), chain: pki.read('dod-chain.pem') }
    const signer = Signer.fromKmsUri(uri, material)
    assert.deepEqual(signer.findings.map((f) => f.code), ['NO_CODE_SIGNING_EKU'])
    await rejectsWith(() => Signer.fromKmsUri(uri, { ...material, strictEku: true }), 'CERT_NO_CODE_SIGNING', assert)
    await rejectsWith(
      () => Signer.fromKmsUri(uri, { ...material, certificate: pki.read('dod-leaf.pem') }),
      'CERT_KEY_MISMATCH',
      assert,
    )
  })

  test('a Vault transit key signs; cosign verifies by its public key', async () => {
    const created = await fetch(`${vaultAddr}/v1/transit/keys/node-signer`, {
      method: 'POST', headers: { 'X-Vault-Token': vaultToken }, body: JSON.stringify({ type: 'ecdsa-p256' }),
    })
    assert.ok(created.ok)
    providerEnv({ VAULT_ADDR: vaultAddr, VAULT_TOKEN: vaultToken })
    const signer = Signer.fromKmsUri('hashivault://node-signer')
    const image = makeImage(registry.addr, 'node/vault')
    await reg.sign(image.pinned, signer)
    cosignVerifies(image, signer.publicKeyPem)
    await rejectsWith(() => Signer.fromKmsUri('hashivault://node-absent'), 'KMS_KEY_NOT_FOUND', assert)
    providerEnv({ VAULT_ADDR: vaultAddr, VAULT_TOKEN: 'wrong' })
    await rejectsWith(() => Signer.fromKmsUri('hashivault://node-signer'), 'KMS_ACCESS_DENIED', assert)
  })
})
