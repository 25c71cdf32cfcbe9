import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, sessionKeys, storedFields } from './setup.js'

// Regression: the core codec's filter looked for `"__proto__"` in the raw text, so a value stored
// as {"\u005f_proto__": ...} (by anyone who can write to Redis) decoded with an own __proto__,
// and merging it into another object swapped that object's prototype.
t.test('session values with escaped __proto__ or constructor.prototype decode clean', async (t) => {
  const server = await redisFor(t)
  const client = adminFor(t, server)
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.get('/merged/:key', async (request) => {
      const { key } = request.params as { key: string }
      const merged = Object.assign({}, request.session.get(key))
      return { isAdmin: (merged as { isAdmin?: unknown }).isAdmin ?? null, own: Object.keys(merged), data: Object.keys(request.session.data()) }
    })
  })

  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { prefs: { theme: 'dark' } } })) as string
  const [key] = await sessionKeys(server)
  const stored = storedFields(await client.get(key as string) as string)
  const forged: Record<string, string> = {
    ...stored,
    'd:lower': '{"\\u005f_proto__":{"isAdmin":true},"x":1}',
    'd:upper': '{"\\u005F\\u005Fproto\\u005F\\u005F":{"isAdmin":true},"x":1}',
    'd:ctor': '{"\\u0063onstructor":{"\\u0070rototype":{"isAdmin":true}},"x":1}'
  }
  // The outer session object is decoded by the same codec: an escaped __proto__ field there is dropped too.
  await client.set(key as string, JSON.stringify(forged).replace(/^\{/, '{"\\u005f_proto__":{"m:d":"1"},'), 'KEEPTTL')

  for (const name of ['lower', 'upper', 'ctor']) {
    const res = await app.inject({ url: `/merged/${name}`, headers: { cookie } })
    t.equal(res.statusCode, 200, name)
    t.same(res.json(), { isAdmin: null, own: ['x'], data: ['prefs', 'lower', 'upper', 'ctor'] }, name)
  }
  t.equal(({} as { isAdmin?: unknown }).isAdmin, undefined, 'Object.prototype untouched')
})

// Regression: set('__proto__', v) was accepted, and data() then returned an object with an own
// __proto__ property, so Object.assign({}, data()) swapped the copy's prototype.
t.test('a session key named __proto__ is refused, and one forged in Redis is dropped on load', async (t) => {
  const server = await redisFor(t)
  const client = adminFor(t, server)
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/proto/:how', async (request) => {
      const { how } = request.params as { how: string }
      if (how === 'set') request.session.set('__proto__', { isAdmin: true })
      else if (how === 'delete') request.session.delete('__proto__')
      else if (how === 'get') return { value: request.session.get('__proto__') ?? null }
      else return { has: request.session.has('__proto__') }
      return { ok: true }
    })
    app.get('/assigned', async (request) => {
      const data = request.session.data()
      const assigned: Record<string, unknown> = Object.assign({}, data)
      return { own: Object.hasOwn(data, '__proto__'), swapped: Object.getPrototypeOf(assigned) !== Object.prototype, isAdmin: assigned.isAdmin ?? null, keys: Object.keys(data) }
    })
  })

  for (const how of ['set', 'delete', 'get', 'has']) {
    const res = await app.inject({ method: 'POST', url: `/proto/${how}` })
    t.equal(res.statusCode, 500, how)
    t.equal(res.json().code, 'SCALEOUT_ERR_SESSION_KEY', how)
    t.equal(res.headers['set-cookie'], undefined, how)
  }
  t.same(await sessionKeys(server), [], 'nothing stored')

  // Someone who can write to Redis forges a `d:__proto__` field: it never reaches data().
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { theme: 'dark' } })) as string
  const [key] = await sessionKeys(server)
  await client.append(key as string, ',"d:__proto__":"{\\"isAdmin\\":true}"')
  const res = await app.inject({ url: '/assigned', headers: { cookie } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { own: false, swapped: false, isAdmin: null, keys: ['theme'] })
  t.equal(({} as { isAdmin?: unknown }).isAdmin, undefined, 'Object.prototype untouched')
})
