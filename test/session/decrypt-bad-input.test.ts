import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { redisFor } from '../helpers/index.js'
import { build, cookieOf, valueOf } from './setup.js'

// fastify.decryptSession called with what is not a request, or with cookie options that are not
// an object: a coded SCALEOUT_ERR_INVALID_OPTION through the callback or the promise, never a
// TypeError from inside the plugin, and no options silently ignored.

type Outcome = { code: string | undefined, message: string } | null

async function outcomeOf (call: (cb: (err?: Error | null) => void) => void): Promise<Outcome> {
  return await new Promise((resolve) => {
    call((err) => { resolve(err == null ? null : { code: (err as Error & { code?: string }).code, message: err.message }) })
  })
}

t.test('decryptSession refuses a request or cookie options that are not objects with a coded error', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })
  const value = valueOf(cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u' } })) as string)
  const decrypt = app.decryptSession as unknown as (...args: unknown[]) => Promise<void> | undefined
  const request = (): FastifyRequest => ({}) as FastifyRequest

  for (const bad of [null, undefined, 5, 'request']) {
    const outcome = await outcomeOf((cb) => decrypt(value, bad, cb))
    t.same(outcome, { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/session: option `decryptSession request` is invalid: expected a Fastify request, or an object standing for one' }, `request ${String(bad)}, callback`)
    await t.rejects(async () => { await decrypt(value, bad) }, { code: 'SCALEOUT_ERR_INVALID_OPTION' }, `request ${String(bad)}, promise`)
  }

  for (const bad of [null, 'opts', 5, true]) {
    const outcome = await outcomeOf((cb) => decrypt(value, request(), bad, cb))
    t.same(outcome, { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/session: option `decryptSession cookie options` is invalid: expected none: once the session is loaded, set its cookie attributes with `request.session.options()` (see "Migrating from @fastify/session" in the @scaleout/session README)' }, `options ${String(bad)}, callback`)
    await t.rejects(async () => { await decrypt(value, request(), bad) }, { code: 'SCALEOUT_ERR_INVALID_OPTION' }, `options ${String(bad)}, promise`)
  }

  // What is documented to work still does: {} and a left-out options argument.
  const holder = request()
  t.equal(await outcomeOf((cb) => decrypt(value, holder, {}, cb)), null)
  t.equal(holder.session.get('userId'), 'u')
  const other = request()
  t.equal(await decrypt(value, other, undefined), undefined)
  t.equal(other.session.get('userId'), 'u')
  // A value that is not a string is no session: a new empty one, as documented.
  for (const bad of [null, undefined, 5, {}]) {
    const empty = request()
    t.equal(await outcomeOf((cb) => decrypt(bad, empty, cb)), null)
    t.equal(empty.session.isNew, true)
  }
})
