import t from 'tap'
import { Agent, request as httpRequest } from 'node:http'
import type { FastifyRequest } from 'fastify'
import { redisFor } from '../helpers/index.js'
import { normalize } from '../../plugins/session/src/options.js'
import { newId, sign } from '../../plugins/session/src/signing.js'
import { cookieTaker, MEMO_CHARS } from '../../plugins/session/src/taken-cookie.js'
import { build, OLD_SECRET, SECRET } from './setup.js'

/** What cookieTaker reads of a request: its connection and its protocol (for the cookie's name). */
function requestOn (socket: object | null, protocol = 'http'): FastifyRequest {
  return { raw: { socket }, protocol } as unknown as FastifyRequest
}

t.test('a connection that sends the same Cookie header again gets the same answer, without parsing it again', async (t) => {
  const take = cookieTaker(normalize({ secret: SECRET, redis: 'redis://127.0.0.1:1' }))
  const socket = {}
  const id = newId()
  const header = 'theme=dark; sessionId=' + sign(id, [SECRET])
  const first = take(requestOn(socket), header)
  t.same(first, { value: sign(id, [SECRET]), verified: { id, resign: false } })
  t.equal(take(requestOn(socket), header), first, 'the same header on the same connection: the kept answer')
  t.equal(take(requestOn(socket), header.slice(0, 5) + header.slice(5)), first, 'the same text in another string: the kept answer too')
  t.not(take(requestOn({}), header), first, 'another connection keeps its own')
})

t.test('a connection that changes its Cookie header is answered for the new one, whatever the old one was', async (t) => {
  const take = cookieTaker(normalize({ secret: SECRET, redis: 'redis://127.0.0.1:1' }))
  const socket = {}
  const alice = newId()
  const bob = newId()
  const forged = newId() + '.' + 'A'.repeat(43)
  t.same(take(requestOn(socket), 'sessionId=' + sign(alice, [SECRET]))?.verified, { id: alice, resign: false })
  t.same(take(requestOn(socket), 'sessionId=' + sign(bob, [SECRET]))?.verified, { id: bob, resign: false })
  t.same(take(requestOn(socket), 'sessionId=' + forged), { value: forged, verified: null })
  t.equal(take(requestOn(socket), 'theme=dark'), undefined, 'no session cookie')
  t.same(take(requestOn(socket), 'sessionId=' + sign(alice, [SECRET]))?.verified, { id: alice, resign: false })
  // The same header where the plugin's cookie has another name (secure 'auto' over https: __Host-).
  t.equal(take(requestOn(socket, 'https'), 'sessionId=' + sign(alice, [SECRET])), undefined, 'over https only the prefixed name counts')
  t.same(take(requestOn(socket, 'https'), '__Host-sessionId=' + sign(alice, [SECRET]))?.verified, { id: alice, resign: false })
})

t.test('each registration answers with its own options on a shared connection', async (t) => {
  const current = cookieTaker(normalize({ secret: SECRET, redis: 'redis://127.0.0.1:1' }))
  const rotated = cookieTaker(normalize({ secret: [OLD_SECRET, SECRET], redis: 'redis://127.0.0.1:1' }))
  const prefixed = cookieTaker(normalize({ secret: SECRET, redis: 'redis://127.0.0.1:1', cookiePrefix: 's:' }))
  const socket = {}
  const id = newId()
  const header = 'sessionId=' + sign(id, [SECRET])
  t.same(current(requestOn(socket), header)?.verified, { id, resign: false })
  t.same(rotated(requestOn(socket), header)?.verified, { id, resign: true }, 'signed with what is the older secret here')
  t.same(prefixed(requestOn(socket), header), { value: '', verified: null }, 'without the prefix this registration expects')
})

t.test(`a Cookie header longer than ${MEMO_CHARS} characters is taken each time, not kept with its connection`, async (t) => {
  const take = cookieTaker(normalize({ secret: SECRET, redis: 'redis://127.0.0.1:1' }))
  const socket = {}
  const id = newId()
  const atLimit = 'pad=' + 'x'.repeat(MEMO_CHARS - 6 - 'sessionId='.length - sign(id, [SECRET]).length) + '; sessionId=' + sign(id, [SECRET])
  t.equal(atLimit.length, MEMO_CHARS)
  t.equal(take(requestOn(socket), atLimit), take(requestOn(socket), atLimit), 'at the limit: kept')
  const over = 'x' + atLimit
  const first = take(requestOn(socket), over)
  t.same(first?.verified, { id, resign: false })
  t.not(take(requestOn(socket), over), first, 'over the limit: taken again')
  t.same(take(requestOn(socket), over), first)
  t.same(take(requestOn(null), atLimit)?.verified, { id, resign: false }, 'a request without a connection is taken as it comes')
})

/** GET `path` on `agent`'s one keep-alive connection. */
async function get (agent: Agent, port: number, path: string, cookie?: string): Promise<{ status: number, body: unknown, setCookie: string[] }> {
  return await new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent, headers: cookie === undefined ? {} : { cookie } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode as number, body: JSON.parse(text) as unknown, setCookie: res.headers['set-cookie'] ?? [] }) })
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('on one keep-alive connection, every request gets the session of the cookie it carries', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })
  const port = (await app.listen({ host: '127.0.0.1', port: 0 }), (app.server.address() as { port: number }).port)
  const login = async (userId: string): Promise<string> => {
    const res = await app.inject({ method: 'POST', url: '/login', payload: { userId } })
    return (res.headers['set-cookie'] as string).split(';')[0] as string
  }
  const alice = await login('alice')
  const bob = await login('bob')
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  const sockets = new Set<unknown>()
  agent.on('free', (socket) => { sockets.add(socket) })
  t.same((await get(agent, port, '/get/userId', alice)).body, { value: 'alice' })
  t.same((await get(agent, port, '/get/userId', bob)).body, { value: 'bob' }, 'another user on the same connection')
  const forged = await get(agent, port, '/get/userId', alice.replace(/\.[A-Za-z0-9_-]{43}$/, '.' + 'A'.repeat(43)))
  t.same(forged.body, { value: null }, 'a forged signature after a valid one: no session')
  t.match(forged.setCookie, [/^sessionId=; /], 'and the forged cookie is cleared')
  t.same((await get(agent, port, '/get/userId')).body, { value: null }, 'no cookie after one: no session')
  t.same((await get(agent, port, '/get/userId', alice)).body, { value: 'alice' })
  t.same((await get(agent, port, '/get/userId', alice)).body, { value: 'alice' }, 'the same cookie again')
  t.equal(sockets.size, 1, 'all of it on one connection')
})
