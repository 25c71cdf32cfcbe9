import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { describe, expect, test } from 'tstyche'
import session, {
  session as named, SessionUnavailableError, SessionTooLargeError, SessionDisabledError, InvalidUserIdError,
  InvalidSessionKeyError, type RequestSession, type SessionInfo, type SessionOptions
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
  })

  test('misuse fails to compile', () => {
    expect(app.register(session)).type.toRaiseError()
    expect(app.register(session, {})).type.toRaiseError("not assignable to parameter of type 'FastifyRegisterOptions<SessionOptions>'")
    expect(app.register(session, { secret: 42 })).type.toRaiseError()
    expect(app.register(session, { secret, tll: 60 })).type.toRaiseError("'tll' does not exist")
    expect(app.register(session, { secret, redis: 6379 })).type.toRaiseError()
    expect(app.register(session, { secret, cookie: { sameSite: 'sometimes' } })).type.toRaiseError()
    expect<SessionOptions>().type.not.toHaveProperty('store')
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
  })
})
