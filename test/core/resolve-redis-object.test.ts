import t from 'tap'
import Fastify from 'fastify'
import { resolveRedis } from '@scaleout/core'
import session from '@scaleout/session'

// Regression: `redis: { host, port }` (ioredis's own form) crashed with a bare
// "TypeError: Cannot read properties of undefined (reading 'slice')" and no code.
const MESSAGE = "option `redis` is invalid: expected a URL (redis://host:port), { url: 'redis://host:port', ...ioredis options }, { cluster: [urls] }, { sentinels, name } or an ioredis client; an object needs one of url, cluster or sentinels"

t.test('an object without url, cluster or sentinels is refused with a coded error naming the forms', async (t) => {
  for (const option of [{ host: '127.0.0.1', port: 6379 }, {}, { url: 6379 }]) {
    const app = Fastify()
    t.teardown(async () => await app.close())
    const err = await resolveRedis(app, option as never, { plugin: '@scaleout/test' }).catch((e: unknown) => e) as Error & { code: string }
    t.equal(err.code, 'SCALEOUT_ERR_INVALID_OPTION', JSON.stringify(option))
    t.equal(err.message, `@scaleout/test: ${MESSAGE}`)
  }
})

t.test('a plugin registered with redis: { host, port } fails registration with that error', async (t) => {
  const app = Fastify()
  t.teardown(async () => await app.close())
  await t.rejects(async () => {
    await app.register(session, { secret: 'a-secret-of-at-least-32-characters-0', redis: { host: '127.0.0.1', port: 6379 } as never })
  }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message: `@scaleout/session: ${MESSAGE}` })
})
