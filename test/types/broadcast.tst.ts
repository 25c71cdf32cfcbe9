import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { describe, expect, test } from 'tstyche'
import broadcast, {
  broadcast as named, errors, ClosedError, InvalidChannelError, InvalidHandlerError, OriginRefusedError, TooManyChannelsError, WebSocketMissingError,
  type BroadcastOptions, type BroadcastStats, type MessageMeta, type PublishResult, type WebSocketRouteOptions
} from '@scaleout/broadcast'
import { InvalidOptionError, RedisTimeoutError } from '@scaleout/core'

const app = Fastify()

describe('@scaleout/broadcast options', () => {
  test('the default and the named export are the same plugin', () => {
    expect(named).type.toBe(broadcast)
  })

  test('correct options compile', () => {
    expect(app.register(broadcast)).type.not.toRaiseError()
    expect(app.register(broadcast, { redis: new Redis({ lazyConnect: true }), prefix: 'app:', sharded: true, heartbeatInterval: false })).type.not.toRaiseError()
    expect(app.register(broadcast, { redis: { cluster: ['redis://127.0.0.1:7000'] }, maxChannelsPerSocket: 16 })).type.not.toRaiseError()
    expect(app.register(broadcast, { timeout: '250ms', heartbeatInterval: 5000, heartbeatMisses: 3, maxBytes: 1024, allowedOrigins: ['https://app.example.com'] })).type.not.toRaiseError()
    expect(app.register(broadcast, { timeout: 1000, heartbeatInterval: '5s', allowedOrigins: (origin) => origin.endsWith('.example.com') })).type.not.toRaiseError()
  })

  test('misuse fails to compile', () => {
    expect(app.register(broadcast, { shardd: true })).type.toRaiseError("'shardd' does not exist")
    expect(app.register(broadcast, { sharded: 'yes' })).type.toRaiseError()
    expect(app.register(broadcast, { redis: { cluster: 'redis://127.0.0.1:7000' } })).type.toRaiseError()
    expect<BroadcastOptions>().type.not.toHaveProperty('channels')
    expect({ publishTimeout: 1000 }).type.not.toBeAssignableTo<BroadcastOptions>()
    expect({ maxPayloadBytes: 1000 }).type.not.toBeAssignableTo<BroadcastOptions>()
    expect({ timout: 1000 }).type.not.toBeAssignableTo<BroadcastOptions>()
    expect({ timeout: true }).type.not.toBeAssignableTo<BroadcastOptions>()
    expect({ heartbeatInterval: true }).type.not.toBeAssignableTo<BroadcastOptions>()
    expect({ heartbeatMisses: '2' }).type.not.toBeAssignableTo<BroadcastOptions>()
    expect({ allowedOrigins: 'https://app.example.com' }).type.not.toBeAssignableTo<BroadcastOptions>()
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
    expect(app.broadcast.stats().unresponsiveDropped).type.toBe<number>()
  })

  test('misuse fails to compile', () => {
    expect(app.broadcast.publish(['news'], 'hello')).type.toRaiseError()
    expect(app.broadcast.subscribe('news', 'handler')).type.toRaiseError()
    expect(app.broadcast.websocket('/live', {})).type.toRaiseError()
    expect(app.broadcast.websocket('/live', { channels: () => 'news' })).type.toRaiseError()
    expect(app.broadcast.instanceId = 'spoofed').type.toRaiseError()
  })
})

describe('@scaleout/broadcast WebSocket route options', () => {
  test('a route with its own hooks, config, origins and limits compiles', () => {
    expect(app.broadcast.websocket('/live', {
      channels: async (request) => [String(request.query)],
      allowedOrigins: ['https://app.example.com'],
      maxBytes: 4096,
      maxChannels: 8,
      maxBufferedBytes: 65_536,
      pingInterval: '30s',
      onMessage: (data, socket) => { socket.send(data, { binary: false }) },
      route: { preValidation: async () => {}, logLevel: 'warn', config: {} }
    })).type.not.toRaiseError()
  })

  test("onMessage's socket sends text as ws does (regression: only send(Buffer, { binary }) compiled)", () => {
    expect(app.broadcast.websocket('/live', {
      channels: () => ['news'],
      onMessage: (data, socket) => { if (data.toString() === 'ping') socket.send('pong') }
    })).type.not.toRaiseError()
    expect(app.broadcast.websocket('/live', {
      channels: () => ['news'],
      onMessage: (_data, socket) => { socket.send(42) }
    })).type.toRaiseError()
  })

  test('misuse fails to compile', () => {
    expect({ channels: () => ['a'], maxBytes: '4kb' }).type.not.toBeAssignableTo<WebSocketRouteOptions>()
    expect({ channels: () => ['a'], allowedOrigins: 'https://app.example.com' }).type.not.toBeAssignableTo<WebSocketRouteOptions>()
    expect({ channels: () => ['a'], maxChannels: '8' }).type.not.toBeAssignableTo<WebSocketRouteOptions>()
    expect({ channels: () => ['a'], pingInterval: true as const }).type.not.toBeAssignableTo<WebSocketRouteOptions>()
    expect({ channels: () => ['a'], pingInterval: false as const }).type.toBeAssignableTo<WebSocketRouteOptions>()
    expect({ channels: ['a'] }).type.not.toBeAssignableTo<WebSocketRouteOptions>()
    expect({ channels: () => ['a'], route: { method: 'POST' } }).type.not.toBeAssignableTo<WebSocketRouteOptions>()
  })
})

describe('@scaleout/broadcast errors', () => {
  test('errors is keyed by code: the broadcast classes and the core ones', () => {
    expect(errors.SCALEOUT_ERR_BROADCAST_CHANNEL).type.toBe<typeof InvalidChannelError>()
    expect(errors.SCALEOUT_ERR_BROADCAST_ORIGIN).type.toBe<typeof OriginRefusedError>()
    expect(errors.SCALEOUT_ERR_INVALID_OPTION).type.toBe<typeof InvalidOptionError>()
    expect(errors.SCALEOUT_ERR_REDIS_TIMEOUT).type.toBe<typeof RedisTimeoutError>()
    expect(errors).type.not.toHaveProperty('SCALEOUT_ERR_BROADCAST_NOPE')
    expect(errors.SCALEOUT_ERR_BROADCAST_CLOSED = ClosedError).type.toRaiseError()
  })

  test('errors carry their code and status as literal types', () => {
    expect(new InvalidChannelError().code).type.toBe<'SCALEOUT_ERR_BROADCAST_CHANNEL'>()
    expect(new ClosedError().statusCode).type.toBe<503>()
    expect(new TooManyChannelsError()).type.toBeAssignableTo<Error>()
    expect(new InvalidHandlerError()).type.toBeAssignableTo<Error>()
    expect(new WebSocketMissingError().statusCode).type.toBe<500>()
  })
})
