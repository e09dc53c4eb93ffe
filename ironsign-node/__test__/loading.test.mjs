// The package loads from ESM (import) and CommonJS (require), by name, with the same exports.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import * as esm from 'ironsign'
import { PACKAGE } from './helpers.mjs'

const EXPORTS = ['Policy', 'RegistryClient', 'Signer', 'TrustRoot', 'errorCodes', 'inspectCertificate', 'rejectionCodes', 'version']

test('ESM import and CommonJS require give the same module', () => {
  const cjs = createRequire(import.meta.url)('ironsign')
  for (const name of EXPORTS) {
    assert.equal(typeof esm[name], 'function', `ESM export ${name}`)
    assert.equal(cjs[name], esm[name], `CommonJS export ${name} is the same object`)
  }
  assert.equal(esm.default, cjs)
  // index.mjs re-exports every export of the generated loader.
  const named = Object.keys(esm).filter((k) => k !== 'default').sort()
  assert.deepEqual(named, Object.keys(cjs).filter((k) => !k.startsWith('__')).sort())
})

test('a fresh CommonJS process and a fresh ESM process load it by name', () => {
  const cjs = execFileSync(process.execPath, ['--input-type=commonjs', '-e', "const i = require('ironsign'); console.log(typeof i.RegistryClient, i.version())"], { cwd: PACKAGE, encoding: 'utf8' })
  const mjs = execFileSync(process.execPath, ['--input-type=module', '-e', "import { RegistryClient, version } from 'ironsign'; console.log(typeof RegistryClient, version())"], { cwd: PACKAGE, encoding: 'utf8' })
  assert.equal(cjs, mjs)
  assert.match(cjs, /^function \d+\.\d+\.\d+/)
})
