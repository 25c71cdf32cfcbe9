import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { promisify } from 'node:util'
import { RedisServer } from '../helpers/index.js'

// Every package as a user meets it: packed with `npm pack`, installed alone into an empty project
// with a strict layout (`--install-strategy=nested`: a package sees only what it declares, as
// under pnpm or Yarn PnP), then loaded from ESM and CommonJS, registered into Fastify against a
// real Redis, and type-checked by a strict consumer with `skipLibCheck: false` under both
// `node16` and `bundler` resolution. Slow (one npm install and two tsc runs per package), so it
// runs as `npm run test:packages` in CI rather than in `npm test`.

const run = promisify(execFile)
const root = join(import.meta.dirname, '..', '..')
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const CORE = '@scaleout/core'

interface Plugin {
  dir: string
  /** Options a first-time user passes, as JSON with REDIS_URL standing for the test's server. */
  options: Record<string, unknown>
  /** TypeScript a consumer writes against the package's public types, after `app` exists. */
  usage: string
}

const plugins: Record<string, Plugin> = {
  '@scaleout/session': {
    dir: 'plugins/session',
    options: { secret: 'a-secret-of-at-least-thirty-two-characters', redis: 'REDIS_URL' },
    usage: `await app.register(plugin, { secret: 'a-secret-of-at-least-thirty-two-characters', redis: new Redis({ lazyConnect: true }) })
app.get('/', { config: { session: 'lazy' } }, async (request) => ({ id: request.session.id }))
const count: number = await app.sessions.destroyAllFor('user')`
  },
  '@scaleout/cache': {
    dir: 'plugins/cache',
    options: { redis: 'REDIS_URL' },
    usage: `await app.register(plugin, { redis: new Redis({ lazyConnect: true }) })
app.get('/', { config: { cache: { ttl: '60s' } } }, async () => 'ok')
const value: number = await app.cache.wrap('key', async () => 1)`
  },
  '@scaleout/health': {
    dir: 'plugins/health',
    options: { redis: 'REDIS_URL' },
    usage: `await app.register(plugin, { redis: new Redis({ lazyConnect: true }), checks: { db: async () => {} } })
const api: object = app.health`
  },
  '@scaleout/proxy': {
    dir: 'plugins/proxy',
    options: { trust: ['loopback'] },
    usage: `await app.register(plugin, { trust: ['loopback', '10.0.0.0/8'] })
app.get('/', async (request) => ({ ip: request.ip, hops: request.forwarded }))
new Redis({ lazyConnect: true }).disconnect()`
  },
  '@scaleout/broadcast': {
    dir: 'plugins/broadcast',
    options: { redis: 'REDIS_URL' },
    usage: `await app.register(plugin, { redis: new Redis({ lazyConnect: true }) })
const off: () => void = app.broadcast.subscribe('news', (message) => { void message })
off()`
  },
  '@scaleout/postgres': {
    dir: 'plugins/postgres',
    // With no replica the plugin opens no connection until a query runs: nothing listens on port 9.
    options: { primary: 'postgres://app@127.0.0.1:9/app' },
    usage: `await app.register(plugin, { primary: 'postgres://app@127.0.0.1:9/app', timeout: '2s' })
app.get('/', async (request) => (await request.db.read.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one)
new Redis({ lazyConnect: true }).disconnect()`
  }
}

const compilerOptions = { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', lib: ['ES2023'], types: ['node'] }
const resolutions = {
  node16: { module: 'node16', moduleResolution: 'node16' },
  bundler: { module: 'esnext', moduleResolution: 'bundler' }
}

/** The environment of `npm run`, minus its npm_* settings, which would point npm back at this workspace. */
function cleanEnv (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')))
}

async function sh (command: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(command, args, { cwd, env: cleanEnv(), maxBuffer: 64 * 1024 * 1024 })
    return stdout
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string, stderr?: string }
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`)
  }
}

interface Packed { name: string, filename: string, files: Array<{ path: string }> }

/**
 * Bare package names a file imports (`node:` built-ins aside). A keyword that is itself quoted is a
 * string, not an import: `'from', 'host'` in a list of header names imports nothing.
 */
function bareImports (text: string): string[] {
  const names = new Set<string>()
  for (const [, spec] of text.matchAll(/(?:(?<!['"])\bfrom\s*|(?<!['"])\bimport\s*\(\s*|(?<!['"])\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)) {
    if (spec === undefined || spec.startsWith('.') || spec.startsWith('node:')) continue
    const parts = spec.split('/')
    names.add(spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : `${parts[0]}`)
  }
  return [...names]
}

t.test('every package packs, installs alone with a strict layout, loads, registers and type-checks', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'scaleout-pack-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const server = await RedisServer.start()
  t.teardown(async () => await server.stop())

  await sh(process.execPath, [tsc, '--build', join(root, 'tsconfig.build.json')], root)
  const tarballs = join(work, 'tarballs')
  mkdirSync(tarballs)
  const dirs = ['lib', ...Object.values(plugins).map((plugin) => plugin.dir)]
  const packed = JSON.parse(await sh('npm', ['pack', '--json', '--pack-destination', tarballs, ...dirs.flatMap((dir) => ['-w', dir])], root)) as Packed[]
  t.same(packed.map((p) => p.name).sort(), [CORE, ...Object.keys(plugins)].sort(), 'npm pack made one tarball per package')
  const tarball = (name: string): string => join(tarballs, packed.find((p) => p.name === name)?.filename ?? name)
  const license = readFileSync(join(root, 'LICENSE'), 'utf8')

  for (const { name, files } of packed) {
    t.test(`${name}: the tarball holds what it needs and nothing of the build`, async (t) => {
      const dir = join(root, name === CORE ? 'lib' : (plugins[name] as Plugin).dir)
      const paths = new Set(files.map((file) => file.path))
      t.ok(paths.has('LICENSE'), 'ships LICENSE')
      t.equal(readFileSync(join(dir, 'LICENSE'), 'utf8'), license, 'its LICENSE is the root LICENSE')
      t.same([...paths].filter((path) => path.endsWith('.tsbuildinfo')), [], 'no tsbuildinfo')
      t.ok(paths.has('dist/index.js') && paths.has('dist/index.d.ts'), 'ships the build')
      const missing: string[] = []
      for (const path of paths) {
        if (!path.endsWith('.map')) continue
        const map = JSON.parse(readFileSync(join(dir, path), 'utf8')) as { sources: string[] }
        for (const source of map.sources) {
          const target = posix.normalize(posix.join(posix.dirname(path), source))
          if (!paths.has(target)) missing.push(`${path} -> ${target}`)
        }
      }
      t.same(missing, [], 'every source map points at a shipped file')
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>
      const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})])
      const undeclared = new Set<string>()
      for (const path of paths) {
        if (!/\.(?:js|ts)$/.test(path)) continue
        for (const imported of bareImports(readFileSync(join(dir, path), 'utf8'))) {
          if (!declared.has(imported) && imported !== manifest.name as unknown as string) undeclared.add(`${imported} (${path})`)
        }
      }
      t.same([...undeclared], [], 'every package a shipped file imports is a dependency or peer dependency')
    })
  }

  const consumers: Array<[string, Plugin | undefined]> = [[CORE, undefined], ...Object.entries(plugins)]
  for (const [name, plugin] of consumers) {
    t.test(`${name}: installed alone with --install-strategy=nested`, async (t) => {
      const project = join(work, name.replace('@scaleout/', ''))
      mkdirSync(project)
      // @scaleout/core is not published yet: an override installs its tarball wherever the plugin
      // depends on it, nested under the plugin as the registry copy would be.
      writeFileSync(join(project, 'package.json'), JSON.stringify({
        name: 'consumer',
        private: true,
        type: 'module',
        ...(plugin === undefined ? {} : { overrides: { [CORE]: `file:${tarball(CORE)}` } })
      }))
      // @types/redis-errors as the root README tells TypeScript users: ioredis 6.1.0's own
      // declarations import redis-errors, which ships no types (a strict consumer of ioredis 6.1.0
      // alone fails without them).
      await sh('npm', ['install', '--install-strategy=nested', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error',
        tarball(name), 'fastify@^5', 'ioredis@^6', '@types/node@^20', '@types/redis-errors@^1'], project)
      const installed = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
      t.same(Object.keys(installed.dependencies).sort(), ['@types/node', '@types/redis-errors', 'fastify', 'ioredis', name].sort(), 'the project depends on this package alone')

      // require() of ESM adds `__esModule: true` beside a default export (Node's interop marker).
      const describe = `const names = Object.keys(m).filter((n) => n !== '__esModule').sort()
        const meta = m.default?.[Symbol.for('plugin-meta')]
        process.stdout.write(JSON.stringify({ names, default: typeof m.default, meta: meta && { name: meta.name, fastify: meta.fastify } }))`
      writeFileSync(join(project, 'esm.mjs'), `import * as m from '${name}'\n${describe}\n`)
      writeFileSync(join(project, 'cjs.cjs'), `const m = require('${name}')\n${describe}\n`)
      const esm = JSON.parse(await sh(process.execPath, ['esm.mjs'], project)) as { names: string[], default: string, meta?: { name: string, fastify: string } }
      const cjs = JSON.parse(await sh(process.execPath, ['cjs.cjs'], project)) as typeof esm
      t.same(cjs, esm, 'require() from CommonJS gets the same exports as import')
      if (plugin === undefined) {
        t.ok(esm.names.includes('resolveRedis') && esm.names.includes('createCodec'), 'the core API is exported')
      } else {
        t.equal(esm.default, 'function', 'the plugin is the default export')
        t.same(esm.meta, { name, fastify: '5.x' }, 'wrapped by fastify-plugin under its package name')

        const options = JSON.stringify(plugin.options).replaceAll('"REDIS_URL"', JSON.stringify(server.url))
        writeFileSync(join(project, 'register.mjs'), `import Fastify from 'fastify'
import plugin from '${name}'
const app = Fastify()
await app.register(plugin, ${options})
await app.ready()
await app.close()
process.stdout.write('ready')
`)
        t.equal(await sh(process.execPath, ['register.mjs'], project), 'ready', 'registers into Fastify and closes')
      }

      writeFileSync(join(project, 'index.ts'), plugin === undefined
        ? `import { Redis } from 'ioredis'
import { createCodec, isRedisClient, resolveRedis } from '${name}'
const codec = createCodec('consumer')
const client: boolean = isRedisClient(new Redis({ lazyConnect: true }))
export { codec, client, resolveRedis }
`
        : `import Fastify from 'fastify'
import { Redis } from 'ioredis'
import plugin from '${name}'
const app = Fastify()
${plugin.usage}
await app.ready()
export {}
`)
      for (const [mode, resolution] of Object.entries(resolutions)) {
        const config = `tsconfig.${mode}.json`
        writeFileSync(join(project, config), JSON.stringify({ compilerOptions: { ...compilerOptions, ...resolution }, files: ['index.ts'] }))
        await sh(process.execPath, [tsc, '-p', config], project)
        t.pass(`a strict TypeScript consumer type-checks with ${mode} resolution`)
      }
    })
  }
})
