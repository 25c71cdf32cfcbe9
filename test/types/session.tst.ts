import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { describe, expect, test } from 'tstyche'
import { coreErrors } from '@scaleout/core'
import session, {
  session as named, errors, SessionUnavailableError, SessionTooLargeError, SessionDisabledError, InvalidUserIdError,
  InvalidSessionKeyError, SessionNotLoadedError, SessionEvictionError, SessionCallbackError, SessionNotDurableError, type RequestSession, type SessionCallback,
  type SessionInfo, type SessionOptions, type SessionCookie, type SessionCookieOverrides
} from '@scaleout/session'

declare module '@scaleout/session' {
  interface SessionData {
    userId: string
    visits: number
  }
}

const secret = 'a-secret-of-at-least-thirty-two-characters'
const app = Fastify()

describe('@scaleout/session options', () => {
  test('the default and the named export are the same plugin', () => {
    expect(named).type.toBe(session)
  })

  test('correct options compile', () => {
    expect(app.register(session, { secret })).type.not.toRaiseError()
    expect(app.register(session, { secret: [secret, secret], redis: 'redis://127.0.0.1:6380' })).type.not.toRaiseError()
    expect(app.register(session, { secret, redis: new Redis({ lazyConnect: true }), ttl: '24h', cookie: { sameSite: 'strict', secure: 'auto' } })).type.not.toRaiseError()
    expect(app.register(session, { secret, ttl: 90_000, maxLifetime: '7d', timeout: '2s', maxBytes: 4096, prefix: 'app:sess:', cookie: { maxAge: 3_600_000 } })).type.not.toRaiseError()
    expect({ secret, ttl: 60_000, maxBytes: 1024, timeout: 500, maxSessionsPerUser: 5 }).type.toBeAssignableTo<SessionOptions>()
  })

  test('misuse fails to compile', () => {
    expect(app.register(session)).type.toRaiseError()
    expect(app.register(session, {})).type.toRaiseError("not assignable to parameter of type 'FastifyRegisterOptions<SessionOptions>'")
    expect(app.register(session, { secret: 42 })).type.toRaiseError()
    expect(app.register(session, { secret, tll: 60 })).type.toRaiseError("'tll' does not exist")
    expect(app.register(session, { secret, maxSize: 1024 })).type.toRaiseError("'maxSize' does not exist")
    expect({ secret, tll: 60 }).type.not.toBeAssignableTo<SessionOptions>()
    expect({ secret, ttl: true }).type.not.toBeAssignableTo<SessionOptions>()
    expect({ secret, maxBytes: '1kb' }).type.not.toBeAssignableTo<SessionOptions>()
    expect({ secret, maxSessionsPerUser: '5' }).type.not.toBeAssignableTo<SessionOptions>()
    expect({ secret, timeout: null }).type.not.toBeAssignableTo<SessionOptions>()
    expect({ secret, cookie: { maxAge: false } }).type.not.toBeAssignableTo<SessionOptions>()
    expect({ secret: 42 }).type.not.toBeAssignableTo<SessionOptions>()
    expect(app.register(session, { secret, redis: 6379 })).type.toRaiseError()
    expect(app.register(session, { secret, cookie: { sameSite: 'sometimes' } })).type.toRaiseError()
    expect<SessionOptions>().type.not.toHaveProperty('store')
  })

  test('durable: replicas and a timeout, both optional; typos and wrong types do not compile', () => {
    expect(app.register(session, { secret, durable: {} })).type.not.toRaiseError()
    expect(app.register(session, { secret, durable: { replicas: 2, timeout: '500ms' } })).type.not.toRaiseError()
    expect(app.register(session, { secret, durable: { replicas: 1, timeout: 250, writes: 'logins' } })).type.not.toRaiseError()
    expect({ secret, durable: { writes: 'some' } }).type.not.toBeAssignableTo<SessionOptions>()
    expect({ secret, durable: true }).type.not.toBeAssignableTo<SessionOptions>()
    expect({ secret, durable: { replica: 1 } }).type.not.toBeAssignableTo<SessionOptions>()
    expect({ secret, durable: { replicas: '1' } }).type.not.toBeAssignableTo<SessionOptions>()
  })

  test('@fastify/session options: the values that are this plugin\'s behaviour compile, the others do not', () => {
    expect(app.register(session, { secret, rolling: true, saveUninitialized: false, algorithm: 'sha256', cookiePrefix: 's:', cookie: { sameSite: true } })).type.not.toRaiseError()
    expect(app.register(session, { secret, rolling: false })).type.toRaiseError()
    expect(app.register(session, { secret, saveUninitialized: true })).type.toRaiseError()
    expect(app.register(session, { secret, algorithm: 'sha1' })).type.toRaiseError()
    expect(app.register(session, { secret, cookie: { sameSite: false } })).type.toRaiseError()
    expect(app.register(session, { secret, cookie: { expires: new Date() } })).type.toRaiseError()
    expect(app.register(session, { secret: { sign: (v: string) => v, unsign: (v: string) => v } })).type.toRaiseError()
    expect<SessionOptions>().type.not.toHaveProperty('idGenerator')
  })
})

describe('@scaleout/session decorators', () => {
  test('request.session reads and writes the merged SessionData', () => {
    app.get('/', async (request) => {
      expect(request.session).type.toBe<RequestSession>()
      expect(request.session.get('userId')).type.toBe<string | undefined>()
      expect(request.session.set('visits', 1)).type.toBe<void>()
      expect(request.session.id).type.toBe<string>()
      expect(request.session.regenerate()).type.toBe<Promise<void>>()
      expect(request.session.set('visits', 'one')).type.toRaiseError()
      expect(request.session.id = 'forged').type.toRaiseError()
      expect(request.session.encryptedSessionId).type.toBe<string>()
      expect(request.session.encryptedSessionId = 'forged').type.toRaiseError()
      expect(request.session.isModified()).type.toBe<boolean>()
      expect(request.session.isSaved()).type.toBe<boolean>()
      return 'ok'
    })
  })

  test('destroy, save, reload and regenerate: a promise, or with a callback nothing', () => {
    app.get('/callbacks', async (request) => {
      const cb = (err?: Error | null): void => { if (err != null) throw err }
      expect(request.session.destroy()).type.toBe<Promise<void>>()
      expect(request.session.destroy(cb)).type.toBe<undefined>()
      expect(request.session.save(cb)).type.toBe<undefined>()
      expect(request.session.reload(cb)).type.toBe<undefined>()
      expect(request.session.reload()).type.toBe<Promise<void>>()
      expect(request.session.regenerate(cb)).type.toBe<undefined>()
      expect(request.session.regenerate(['userId'], cb)).type.toBe<undefined>()
      expect(request.session.regenerate(['userId'])).type.toBe<Promise<void>>()
      expect(request.session.destroy('now')).type.toRaiseError()
      expect(request.session.regenerate(cb, ['userId'])).type.toRaiseError()
      expect(cb).type.toBeAssignableTo<SessionCallback>()
      return 'ok'
    })
    app.get('/ws', async (request) => {
      expect(app.decryptSession('value', request)).type.toBe<Promise<void>>()
      expect(app.decryptSession('value', request, (err) => { if (err != null) throw err })).type.toBe<undefined>()
      expect(app.decryptSession('value', request, {}, () => {})).type.toBe<undefined>()
      expect(app.decryptSession('value', request, { maxAge: 1 }, () => {})).type.toRaiseError()
      expect(app.decryptSession(42, request)).type.toRaiseError()
      return 'ok'
    })
    app.post('/pre', { preHandler: (request, _reply, next) => { request.session.destroy(next) } }, async () => 'ok')
    expect(app.post('/pre2', { preHandler: (request, _reply, next) => { request.session.regenerate(next) } }, async () => 'ok')).type.not.toRaiseError()
  })

  test('request.session.cookie: expires, maxAge (settable), originalMaxAge; attributes read-only', () => {
    app.get('/cookie', async (request) => {
      const { cookie } = request.session
      expect(cookie).type.toBe<SessionCookie>()
      expect(cookie.expires).type.toBe<Date | null>()
      expect(cookie.maxAge).type.toBe<number | null>()
      expect(cookie.originalMaxAge).type.toBe<number | null>()
      expect(cookie.domain).type.toBe<string | null>()
      expect(cookie.sameSite).type.toBe<'lax' | 'strict' | 'none'>()
      cookie.maxAge = 30 * 86_400_000
      cookie.maxAge = '30d'
      cookie.maxAge = null
      expect(cookie.maxAge = true).type.toRaiseError()
      expect(cookie.expires = new Date()).type.toRaiseError('read-only')
      expect(cookie.path = '/').type.toRaiseError('read-only')
      expect(request.session.cookie = cookie).type.toRaiseError('read-only')
      return 'ok'
    })
  })

  test('request.session.options(): the cookie attributes for this session', () => {
    app.get('/options', async (request) => {
      expect(request.session.options({ maxAge: '30d', sameSite: true, httpOnly: false, secure: 'auto', domain: 'example.com', path: '/', partitioned: true })).type.toBe<void>()
      expect(request.session.options({ maxAge: null })).type.not.toRaiseError()
      expect(request.session.options({ expires: new Date() })).type.toRaiseError()
      expect(request.session.options({ sameSite: false })).type.toRaiseError()
      expect(request.session.options({ maxage: 1 })).type.toRaiseError()
      expect({ maxAge: 1000 }).type.toBeAssignableTo<SessionCookieOverrides>()
      return 'ok'
    })
  })

  test('request.session\'s type shows only the public API', () => {
    expect<RequestSession>().type.not.toHaveProperty('load')
    expect<RequestSession>().type.not.toHaveProperty('defer')
    expect<RequestSession>().type.not.toHaveProperty('finish')
    expect<RequestSession>().type.not.toHaveProperty('idle')
    expect<RequestSession>().type.not.toHaveProperty('rejectCookie')
    app.get('/internal', async (request) => {
      expect(request.session.load).type.toRaiseError("Property 'load' does not exist")
      return 'ok'
    })
  })

  test('fastify.sessions manages a user\'s sessions', () => {
    expect(app.sessions.listFor('user')).type.toBe<Promise<SessionInfo[]>>()
    expect(app.sessions.destroyAllFor(7, { except: 'id' })).type.toBe<Promise<number>>()
    expect(app.sessions.destroyAllFor({ id: 7 })).type.toRaiseError()
  })
})

describe('@scaleout/session route config', () => {
  test('config.session is false, true or \'lazy\'', () => {
    expect(app.get('/a', { config: { session: false } }, async () => 'ok')).type.not.toRaiseError()
    expect(app.get('/b', { config: { session: 'lazy' } }, async () => 'ok')).type.not.toRaiseError()
    expect(app.get('/c', { config: { session: 'eager' } }, async () => 'ok')).type.toRaiseError()
  })
})

describe('@scaleout/session errors', () => {
  test('errors carry their code and status as literal types', () => {
    expect(new SessionUnavailableError().code).type.toBe<'SCALEOUT_ERR_SESSION_UNAVAILABLE'>()
    expect(new SessionUnavailableError().statusCode).type.toBe<503>()
    expect(new SessionTooLargeError()).type.toBeAssignableTo<Error>()
    expect(new SessionDisabledError()).type.toBeAssignableTo<Error>()
    expect(new InvalidUserIdError()).type.toBeAssignableTo<Error>()
    expect(new InvalidSessionKeyError()).type.toBeAssignableTo<Error>()
    expect(new SessionNotLoadedError().code).type.toBe<'SCALEOUT_ERR_SESSION_NOT_LOADED'>()
    expect(new SessionEvictionError().code).type.toBe<'SCALEOUT_ERR_SESSION_EVICTION'>()
    expect(new SessionCallbackError().code).type.toBe<'SCALEOUT_ERR_SESSION_CALLBACK'>()
    expect(new SessionNotDurableError().code).type.toBe<'SCALEOUT_ERR_SESSION_NOT_DURABLE'>()
    expect(new SessionNotDurableError().statusCode).type.toBe<503>()
  })

  test('errors holds every session error and the core ones, keyed by code', () => {
    expect(errors.SCALEOUT_ERR_SESSION_UNAVAILABLE).type.toBe<typeof SessionUnavailableError>()
    expect(errors.SCALEOUT_ERR_SESSION_TOO_LARGE).type.toBe<typeof SessionTooLargeError>()
    expect(errors.SCALEOUT_ERR_SESSION_DISABLED).type.toBe<typeof SessionDisabledError>()
    expect(errors.SCALEOUT_ERR_SESSION_USER_ID).type.toBe<typeof InvalidUserIdError>()
    expect(errors.SCALEOUT_ERR_SESSION_KEY).type.toBe<typeof InvalidSessionKeyError>()
    expect(errors.SCALEOUT_ERR_SESSION_NOT_LOADED).type.toBe<typeof SessionNotLoadedError>()
    expect(errors.SCALEOUT_ERR_SESSION_EVICTION).type.toBe<typeof SessionEvictionError>()
    expect(errors.SCALEOUT_ERR_SESSION_CALLBACK).type.toBe<typeof SessionCallbackError>()
    expect(errors.SCALEOUT_ERR_SESSION_NOT_DURABLE).type.toBe<typeof SessionNotDurableError>()
    expect(errors.SCALEOUT_ERR_INVALID_OPTION).type.toBe<typeof coreErrors.SCALEOUT_ERR_INVALID_OPTION>()
    expect(errors.SCALEOUT_ERR_REDIS_OOM).type.toBe<typeof coreErrors.SCALEOUT_ERR_REDIS_OOM>()
    expect(errors).type.not.toHaveProperty('SCALEOUT_ERR_NO_SUCH_ERROR')
    expect(errors.SCALEOUT_ERR_SESSION_KEY = SessionNotLoadedError).type.toRaiseError()
  })
})
