import t from 'tap'
import { inspect } from 'node:util'
import { Redis } from 'ioredis'
import { resolveRedis, senderFor } from '@scaleout/core'
import { appFor, logSink, redisFor, waitUntil } from '../helpers/index.js'

// An error an app logs or returns must not carry the Redis password.
const SECRET = 'supersecret'
const plugin = '@scaleout/test'
const LEFT_OUT = 'the URL is left out of this message, as it may hold a password'
const URL_EXPECTED = `a redis:// or rediss:// URL that parses, such as redis://user:password@host:6379 (${LEFT_OUT})`

/** Everything of `err` a logger or an error reply could show: its inspection and its JSON. */
function shown (err: unknown): string {
  return inspect(err, { depth: 10, showHidden: true }) + JSON.stringify(err)
}

// Regression: a URL that was not redis:// was quoted (its first 40 characters) in the error; one
// that was but did not parse failed in ioredis with Node's ERR_INVALID_URL, whose `input` is the
// whole URL; a Cluster node URL that did not parse was quoted whole.
t.test('a bad Redis URL fails registration with an error that does not quote it', async (t) => {
  const cases: Array<[unknown, string, string]> = [
    [`default:${SECRET}@redis.internal:6379`, 'redis', URL_EXPECTED],
    [`http://user:${SECRET}@redis.internal:6379`, 'redis', URL_EXPECTED],
    [`redis://user:${SECRET}@redis.internal:99999`, 'redis', URL_EXPECTED],
    [{ url: `rediss://user:${SECRET}@[::1:6379` }, 'redis.url', URL_EXPECTED],
    [{ cluster: ['redis://127.0.0.1:7000', `redis://user:${SECRET}@redis.internal:99999`] }, 'redis.cluster',
      `node URLs such as redis://host:6379 (node 2 does not parse; ${LEFT_OUT})`]
  ]
  for (const [option, name, expected] of cases) {
    const app = appFor(t)
    const err = await resolveRedis(app, option as never, { plugin }).catch((e: unknown) => e) as Error & { code: string }
    t.equal(err.code, 'SCALEOUT_ERR_INVALID_OPTION', name)
    t.equal(err.message, `${plugin}: option \`${name}\` is invalid: expected ${expected}`)
    t.notOk(shown(err).includes(SECRET), `${JSON.stringify(option).replace(SECRET, '…')}: no password in the error`)
  }
})

// Regression: a % in the user name or password not followed by two hex digits (or an escape that
// is not UTF-8) threw Node's uncoded URIError from decodeURIComponent at register time.
t.test('a password with a bad % escape fails registration coded, without quoting it', async (t) => {
  const escapes = `a user name and password whose % escapes decode to UTF-8 text (write a % itself as %25; ${LEFT_OUT})`
  const cases: Array<[unknown, string, string]> = [
    [`redis://u:${SECRET}%zz@127.0.0.1:1`, 'redis', `a URL with ${escapes}`],
    [{ url: `redis://${SECRET}%ff@127.0.0.1:1` }, 'redis.url', `a URL with ${escapes}`],
    [{ cluster: ['redis://127.0.0.1:7000', `redis://u:${SECRET}%@127.0.0.1:7001`] }, 'redis.cluster', `node URLs with ${escapes} (node 2)`],
    [{ cluster: [`redis://${SECRET}%z@127.0.0.1:7000`] }, 'redis.cluster', `node URLs with ${escapes} (node 1)`]
  ]
  for (const [option, name, expected] of cases) {
    const err = await resolveRedis(appFor(t), option as never, { plugin }).catch((e: unknown) => e) as Error & { code: string }
    t.equal(err.code, 'SCALEOUT_ERR_INVALID_OPTION', name)
    t.equal(err.message, `${plugin}: option \`${name}\` is invalid: expected ${expected}`)
    t.notOk(shown(err).includes(SECRET), 'no password in the error')
  }
  // A % written as %25 is a password like any other.
  const ok = await resolveRedis(appFor(t), { cluster: [`redis://u:${SECRET}%25@127.0.0.1:1`], lazyConnect: true }, { plugin })
  t.equal((ok.client as unknown as { options: { redisOptions: { password: string } } }).options.redisOptions.password, `${SECRET}%`)
})

t.test('a bad REDIS_URL: the error does not quote it', async (t) => {
  const saved = process.env.REDIS_URL
  t.teardown(() => {
    if (saved === undefined) delete process.env.REDIS_URL
    else process.env.REDIS_URL = saved
  })
  for (const url of [`redis://:${SECRET}@redis.internal:99999`, `:${SECRET}@redis.internal`]) {
    process.env.REDIS_URL = url
    const err = await resolveRedis(appFor(t), undefined, { plugin }).catch((e: unknown) => e) as Error & { code: string }
    t.equal(err.message, `${plugin}: option \`REDIS_URL\` is invalid: expected ${URL_EXPECTED}`)
    t.notOk(shown(err).includes(SECRET))
  }
})

t.test('a wrong password: neither the log lines nor the errors of calls carry it', async (t) => {
  const server = await redisFor(t)
  const setup = new Redis(server.port, server.host)
  await setup.config('SET', 'requirepass', 'the-right-one')
  setup.disconnect()
  const forms = [
    `redis://default:${SECRET}@127.0.0.1:${server.port}`,
    { url: `redis://127.0.0.1:${server.port}`, password: SECRET },
    { url: `redis://127.0.0.1:${server.port}`, username: 'someone', password: SECRET, protocol: 2 }
  ]
  for (const form of forms) {
    const sink = logSink('debug')
    const app = appFor(t, { logger: sink.logger })
    const resolved = await resolveRedis(app, form as never, { plugin, readyTimeoutMs: 200 })
    await app.ready()
    const send = senderFor(resolved.client, resolved.owned, 300, [], resolved.duplicate)
    await waitUntil('the link failed to authenticate too', async () => await send.command('get', ['k']).then(() => false, (err: { code: string }) => err.code === 'SCALEOUT_ERR_REDIS_AUTH'))
    const err = await send.command('get', ['k']).catch((e: unknown) => e)
    const viaIoredis = await senderFor(resolved.client, resolved.owned, 300).command('get', ['k']).catch((e: unknown) => e)
    t.same(sink.messages(40), [`${plugin}: Redis at 127.0.0.1:${server.port} not reachable yet; requests needing it fail fast until it is (one warning for every plugin of the app using it)`])
    t.notOk(JSON.stringify(sink.lines).includes(SECRET), 'log lines')
    t.notOk(shown(err).includes(SECRET) || shown(viaIoredis).includes(SECRET), 'errors')
    await app.close()
  }
})
