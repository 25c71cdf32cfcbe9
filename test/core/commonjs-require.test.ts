import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

// Published packages are ESM. Node >= 20.19 lets CommonJS code require() them; this checks the
// built output of every package really loads that way (no source condition, plain `require`).
const root = join(import.meta.dirname, '..', '..')
const packages = ['lib', 'session', 'cache', 'health', 'proxy', 'broadcast']
  .map((name) => name === 'lib' ? join(root, 'lib') : join(root, 'plugins', name))
  .filter((dir) => existsSync(join(dir, 'src', 'index.ts')))

t.test('every package builds and loads with require() from CommonJS', async (t) => {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--build', join(root, 'tsconfig.build.json')], { stdio: 'pipe' })
  for (const dir of packages) {
    const { name } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string }
    const script = `const m = require(${JSON.stringify(name)}); process.stdout.write(JSON.stringify(Object.keys(m).sort()))`
    const keys = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' })) as string[]
    if (name === '@scaleout/core') {
      t.ok(keys.includes('resolveRedis') && keys.includes('createCodec') && keys.includes('instanceIdentity'), `${name} exports its API`)
    } else {
      t.ok(keys.includes('default'), `${name} has a default export`)
    }
  }
})
