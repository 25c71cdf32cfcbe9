import t from 'tap'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { redisFor } from '../helpers/index.js'
import { normalize } from '../../plugins/session/src/options.js'
import { RECENT_SESSIONS } from '../../plugins/session/src/recent.js'
import { newId } from '../../plugins/session/src/signing.js'
import { Store } from '../../plugins/session/src/store.js'
import { SECRET } from './setup.js'

t.test('a session key kept from an earlier use is the key built from its parts, and the keys kept stay bounded', async (t) => {
  const server = await redisFor(t)
  const client = new Redis(server.url, { lazyConnect: true })
  t.teardown(() => { client.disconnect() })
  const store = new Store(client, false, normalize({ secret: SECRET, redis: server.url, prefix: 'app:sess:' }), Fastify().log)
  const id = newId()
  const expected = `app:sess:{${id.slice(0, 8)}}:${id.slice(8)}`
  t.equal(store.sessionKey(id), expected)
  t.equal(store.keptKeys, 1)
  t.equal(store.sessionKey(id.slice(0, 20) + id.slice(20)), expected, 'the same id in another string: the kept key')
  t.equal(store.keptKeys, 1)
  // An id read back from a user index is Redis's word, not ours: escaped as ever, kept or not.
  t.equal(store.sessionKey('a{b}%c'), 'app:sess:{a%7Bb%7D%25c}:')
  t.equal(store.sessionKey('a{b}%c'), 'app:sess:{a%7Bb%7D%25c}:')
  for (let i = 0; i < RECENT_SESSIONS + 10; i++) store.sessionKey(newId())
  t.ok(store.keptKeys <= RECENT_SESSIONS, `at most ${RECENT_SESSIONS} kept (${store.keptKeys})`)
  t.equal(store.sessionKey(id), expected, 'built again once emptied')
})
