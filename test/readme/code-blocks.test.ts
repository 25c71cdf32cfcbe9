import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { promisify } from 'node:util'
import { redisFor } from '../helpers/fixtures.js'
import { blocksOf, CODE, NOT_CODE, readmes, ROOT, type Block } from './blocks.js'

// Every fenced block of every README (root, lib, plugins/*), as printed:
// - `ts`/`typescript` and `js` blocks are type-checked by tsc (js with checkJs) against the
//   workspace sources through the @scaleout/source condition. Each block is its own module
//   (`export {}` is appended so a block of declarations only stays a module).
// - A block preceded by `<!-- continues -->` is checked appended to the README's previous code
//   block (for a few lines that only make sense inside the example above them).
// - A block preceded by `<!-- run: METHOD /path STATUS[, METHOD /path STATUS ...] -->` is a complete
//   program: it is also RUN, imported into this process with REDIS_URL pointing at a private
//   redis-server, SESSION_SECRETS set and PORT=0 (`export { app }` appended); the harness awaits
//   `app.ready()`, injects those requests in turn, checks each status and closes the app.
// - sh, shell, text, json, nginx, haproxy and yaml blocks are not code of ours and are skipped
//   here (the proxy and health configs run in test/proxy/readme-configs.test.ts). Any other
//   language, or a fence without one, fails: decide what it is.

const exec = promisify(execFile)
// One tsc over every block: minutes on a loaded 2-core machine.
t.setTimeout(300_000)
const blocks = readmes().flatMap(blocksOf)
const code = blocks.filter((block) => CODE.has(block.language))
const name = (block: Block): string => `${block.readme}:${block.line}`

t.test('every fence names a language this test knows', async (t) => {
  for (const block of blocks) {
    t.ok(CODE.has(block.language) || NOT_CODE.has(block.language), `${name(block)} (${JSON.stringify(block.language)})`)
  }
  t.ok(code.filter((block) => block.run !== undefined).length >= 5, 'the Register examples run')
})

mkdirSync(join(ROOT, 'test', 'readme', '.snippets'), { recursive: true })
const dir = mkdtempSync(join(ROOT, 'test', 'readme', '.snippets', 'run-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

function sourceOf (block: Block): string {
  if (!block.continues) return block.code
  const before = code.filter((other) => other.readme === block.readme && other.line < block.line).at(-1)
  if (before === undefined) throw new Error(`${name(block)} continues nothing`)
  return sourceOf(before) + block.code
}

const files = new Map<Block, string>()
code.forEach((block, i) => {
  const file = `b${i}.${block.language === 'js' ? 'js' : 'ts'}`
  writeFileSync(join(dir, file), sourceOf(block) + 'export {}\n')
  files.set(block, file)
})

t.test('every ts and js block type-checks against the workspace packages', async (t) => {
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    extends: '../../../../tsconfig.base.json',
    compilerOptions: {
      noEmit: true,
      composite: false,
      declaration: false,
      declarationMap: false,
      allowJs: true,
      checkJs: true,
      customConditions: ['@scaleout/source']
    },
    files: [...files.values()]
  }))
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc')
  const output = await exec(tsc, ['-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], { cwd: dir })
    .then(({ stdout }) => stdout, (err: { stdout: string }) => err.stdout)
  for (const [block, file] of files) {
    const errors = output.split('\n').filter((line) => line.startsWith(`${file}(`))
    t.same(errors, [], name(block))
  }
  const elsewhere = output.split('\n').filter((line) => line !== '' && !/^b\d+\.(ts|js)\(/.test(line) && !line.startsWith(' '))
  t.same(elsewhere, [], 'no error outside the blocks')
})

t.test('every block marked run runs: register, ready, the request, close', async (t) => {
  const redis = await redisFor(t)
  const env = { REDIS_URL: redis.url, SESSION_SECRETS: 'a-secret-of-at-least-32-characters-1,a-secret-of-at-least-32-characters-0', PORT: '0' }
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]))
  Object.assign(process.env, env)
  t.teardown(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  })
  for (const [block, file] of files) {
    if (block.run === undefined) continue
    const program = join(dir, file.replace(/^b/, 'run'))
    writeFileSync(program, sourceOf(block) + 'export { app }\n')
    // In this process, through tap's own loader: a program compiled by another loader in a child
    // process would report coverage of our sources that cannot be merged with tap's.
    const { app } = await import(pathToFileURL(program).href) as { app: FastifyInstance }
    try {
      await app.ready()
      for (const request of block.run) {
        const response = await app.inject({ method: request.method as 'GET', url: request.url })
        t.equal(response.statusCode, request.status, `${name(block)}: ${request.method} ${request.url} (${response.body.slice(0, 200)})`)
      }
    } finally {
      await app.close()
    }
  }
})
