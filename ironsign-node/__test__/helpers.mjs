// Shared fixtures of the Node binding tests: a real registry (scripts/registry, on 127.0.0.1),
// the test PKI (scripts/gen-test-pki) and fresh images (scripts/make-test-image). Nothing is
// mocked; every registry a test file starts is stopped by the file's `after` hook.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const HERE = dirname(fileURLToPath(import.meta.url))
export const PACKAGE = resolve(HERE, '..')
export const ROOT = resolve(PACKAGE, '..')
export const SCRIPTS = join(ROOT, 'scripts')
export const COSIGN = process.env.IRONSIGN_COSIGN ?? join(process.env.HOME, '.cache/ironsign/tools/cosign-v2.6.5/cosign')

function run(cmd, args, options = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options }).trim()
}

/** A registry of this test file's own; `stop()` stops it by its PID file. */
export function startRegistry(label) {
  const name = `node-${label}-${process.pid}`
  const addr = run(join(SCRIPTS, 'registry'), ['start', name])
  return { name, addr, stop: () => run(join(SCRIPTS, 'registry'), ['stop', name]) }
}

/** The test PKI in a private directory: read(name) gives a file's content. */
export function makePki() {
  const dir = process.env.IRONSIGN_TEST_PKI ?? join(mkdtempSync(join(tmpdir(), 'ironsign-node-pki-')), 'pki')
  run(join(SCRIPTS, 'gen-test-pki'), [dir])
  return { dir, path: (name) => join(dir, name), read: (name) => readFileSync(join(dir, name), 'utf8') }
}

/** Pushes a fresh image; returns { tagged, pinned } (tag and digest references). */
export function makeImage(registry, repo, tag = 'v1') {
  const tagged = `${registry}/${repo}:${tag}`
  const pinned = run(join(SCRIPTS, 'make-test-image'), [tagged]).split('\n').pop()
  return { tagged, pinned, digest: pinned.split('@')[1] }
}

/** Pushes N images TAG-0 .. TAG-(N-1); returns their digest references. */
export function makeImages(registry, repo, tag, count) {
  return run(join(SCRIPTS, 'make-test-image'), [`${registry}/${repo}:${tag}`, '--count', String(count)])
    .split('\n')
    .filter(Boolean)
}

export function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'ironsign-node-'))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Asserts a promise rejects (or a function throws) with an ironsign error of this code. */
export async function rejectsWith(promiseOrFn, code, assert) {
  let error
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn)
  } catch (e) {
    error = e
  }
  assert.ok(error, `expected an error with code ${code}`)
  assert.ok(error instanceof Error, 'an Error instance')
  assert.equal(error.code, code, `code (message: ${error.message})`)
  assert.equal(error.name, 'IronsignError')
  assert.equal(typeof error.family, 'string')
  assert.equal(typeof error.details, 'object')
  return error
}

/** The CLI of this build (run-tests builds it): IRONSIGN_BIN, else $CARGO_TARGET_DIR/debug/ironsign. */
export function ironsignBin() {
  return process.env.IRONSIGN_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug', 'ironsign')
}

/** Runs a script of scripts/ and returns its stdout. */
export function script(name, args) {
  return run(join(SCRIPTS, name), args)
}
