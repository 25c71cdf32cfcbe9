import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { describe, expect, test } from 'tstyche'
import broadcast, {
  broadcast as named, ClosedError, InvalidChannelError, InvalidHandlerError, TooManyChannelsError, WebSocketMissingError,
  type BroadcastOptions, type BroadcastStats, type MessageMeta, type PublishResult
} from '@scaleout/broadcast'

const app = Fastify()

describe('@scaleout/broadcast options', () => {
  test('the default and the named export are the same plugin', () => {
    expect(named).type.toBe(broadcast)
  })

  test('correct options compile', () => {
    expect(app.register(broadcast)).type.not.toRaiseError()
    expect(app.register(broadcast, { redis: new Redis({ lazyConnect: true }), prefix: 'app:', sharded: true, heartbeatInterval: false })).type.not.toRaiseError()
    expect(app.register(broadcast, { redis: { cluster: ['redis://127.0.0.1:7000'] }, maxChannelsPerSocket: 16 })).type.not.toRaiseError()
  })

  test('misuse fails to compile', () => {
    expect(app.register(broadcast, { shardd: true })).type.toRaiseError("'shardd' does not exist")
    expect(app.register(broadcast, { sharded: 'yes' })).type.toRaiseError()
    expect(app.register(broadcast, { redis: { cluster: 'redis://127.0.0.1:7000' } })).type.toRaiseError()
    expect<BroadcastOptions>().type.not.toHaveProperty('channels')
  })
})

describe('@scaleout/broadcast decorator', () => {
  test('fastify.broadcast publishes, subscribes and bridges WebSockets', () => {
    expect(app.broadcast.publish('news', { title: 'hello' })).type.toBe<Promise<PublishResult>>()
    expect(app.broadcast.subscribe('news', (message, meta) => {
      expect(message).type.toBe<unknown>()
      expect(meta).type.toBe<MessageMeta>()
    })).type.toBe<() => void>()
    expect(app.broadcast.websocket('/live', { channels: (request) => [request.url] })).type.toBe<void>()
    expect(app.broadcast.stats()).type.toBe<BroadcastStats>()
  })

  test('misuse fails to compile', () => {
    expect(app.broadcast.publish(['news'], 'hello')).type.toRaiseError()
    expect(app.broadcast.subscribe('news', 'handler')).type.toRaiseError()
    expect(app.broadcast.websocket('/live', {})).type.toRaiseError()
    expect(app.broadcast.websocket('/live', { channels: () => 'news' })).type.toRaiseError()
    expect(app.broadcast.instanceId = 'spoofed').type.toRaiseError()
  })
})

describe('@scaleout/broadcast errors', () => {
  test('errors carry their code and status as literal types', () => {
    expect(new InvalidChannelError().code).type.toBe<'SCALEOUT_ERR_BROADCAST_CHANNEL'>()
    expect(new ClosedError().statusCode).type.toBe<503>()
    expect(new TooManyChannelsError()).type.toBeAssignableTo<Error>()
    expect(new InvalidHandlerError()).type.toBeAssignableTo<Error>()
    expect(new WebSocketMissingError().statusCode).type.toBe<500>()
  })
})
