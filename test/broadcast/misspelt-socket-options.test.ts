import t from 'tap'
import fastifyWebsocket from '@fastify/websocket'
import broadcast from '@scaleout/broadcast'
import { appFor, redisFor } from '../helpers/index.js'

// A misspelt bound (`maxChanels: 5`) used to be ignored without a word: the socket then joined up to
// the plugin's default of channels, and buffered up to its default, not what the app asked for.
t.test('a misspelt attach() or websocket() option is refused, naming the closest known one', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  await app.register(fastifyWebsocket)
  const socket = { readyState: 1, bufferedAmount: 0, send: () => {}, close: () => {}, terminate: () => {}, once: () => {} }

  t.throws(() => app.broadcast.attach(socket, ['a'], { maxChanels: 1 } as never), {
    code: 'SCALEOUT_ERR_INVALID_OPTION',
    message: '@scaleout/broadcast: option `attach().maxChanels` is invalid: expected no such option: did you mean `maxChannels`? the options are maxBufferedBytes, maxChannels, pingInterval'
  })
  t.equal(app.broadcast.stats().sockets, 0, 'nothing attached')
  t.equal(app.broadcast.stats().listeners, 0)

  t.throws(() => app.broadcast.websocket('/ws', { channels: () => ['a'], pingIntervall: 1000 } as never), {
    code: 'SCALEOUT_ERR_INVALID_OPTION',
    message: '@scaleout/broadcast: option `websocket().pingIntervall` is invalid: expected no such option: did you mean `pingInterval`? the options are channels, onMessage, route, allowedOrigins, maxBytes, pingInterval, maxBufferedBytes, maxChannels'
  })
  t.throws(() => app.broadcast.websocket('/ws', { channels: () => ['a'], maxBufferBytes: 10 } as never), {
    code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `websocket\(\).maxBufferBytes` is invalid: expected no such option: did you mean `maxBufferedBytes`\?/
  })
  t.throws(() => app.broadcast.websocket('/ws', null as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/broadcast: option `websocket options` is invalid: expected an object' })

  // The known ones still pass, and a route's sockets are attached with them.
  app.broadcast.websocket('/ok', { channels: () => ['a'], maxChannels: 2, maxBufferedBytes: 1000, pingInterval: false, maxBytes: 100, allowedOrigins: [], onMessage: () => {}, route: {} })
  const detach = app.broadcast.attach(socket, ['a'], { maxChannels: 1, maxBufferedBytes: 10 })
  t.equal(app.broadcast.stats().sockets, 1)
  detach()
})

// A websocket() without a channels function threw a plain TypeError, and an onMessage that is not a
// function was accepted: every frame a client then sent logged "onMessage failed" (a TypeError).
t.test('websocket() refuses a channels or onMessage that is not a function, with a coded error', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  await app.register(fastifyWebsocket)
  t.throws(() => app.broadcast.websocket('/ws', {} as never), {
    code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/broadcast: option `channels` is invalid: expected a function (request) => channel names'
  })
  t.throws(() => app.broadcast.websocket('/ws', { channels: ['a'] } as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `channels` is invalid/ })
  t.throws(() => app.broadcast.websocket('/ws', { channels: () => ['a'], onMessage: 'echo' } as never), {
    code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/broadcast: option `onMessage` is invalid: expected a function (data, socket, request)'
  })
  t.throws(() => app.broadcast.websocket('/ws', { channels: () => ['a'], onMessage: null } as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `onMessage` is invalid/ })
  app.broadcast.websocket('/ws', { channels: () => ['a'], onMessage: undefined })
})
