import t from 'tap'
import { coreErrors } from '@scaleout/core'
import broadcast, * as api from '@scaleout/broadcast'

// What the plugin itself can throw or report (a publish's `error` carries a core Redis error).
const OWN = {
  SCALEOUT_ERR_BROADCAST_CHANNEL: api.InvalidChannelError,
  SCALEOUT_ERR_BROADCAST_TOO_MANY_CHANNELS: api.TooManyChannelsError,
  SCALEOUT_ERR_BROADCAST_TOO_MANY_ATTACHMENTS: api.TooManyAttachmentsError,
  SCALEOUT_ERR_BROADCAST_HANDLER: api.InvalidHandlerError,
  SCALEOUT_ERR_BROADCAST_CLOSED: api.ClosedError,
  SCALEOUT_ERR_BROADCAST_NO_WEBSOCKET: api.WebSocketMissingError,
  SCALEOUT_ERR_BROADCAST_ORIGIN: api.OriginRefusedError
}

t.test('errors: every code maps to the class whose instances carry it; the core ones and every broadcast one are in it', async (t) => {
  t.ok(Object.isFrozen(api.errors))
  for (const [code, ErrorClass] of Object.entries(api.errors)) {
    t.equal(new ErrorClass('x', 1, 2).code, code, code)
  }
  t.same(Object.keys(api.errors).sort(), [...Object.keys(coreErrors), ...Object.keys(OWN)].sort())
  for (const [code, ErrorClass] of Object.entries(OWN)) t.equal(api.errors[code as keyof typeof OWN], ErrorClass, `${code} is the named export`)
  for (const [code, ErrorClass] of Object.entries(coreErrors)) t.equal(api.errors[code as keyof typeof coreErrors], ErrorClass, `${code} is the core's class`)
})

t.test('the named export is the default one, wrapped by fastify-plugin under the package name', async (t) => {
  t.equal(api.broadcast, broadcast)
  t.equal(api.default, broadcast)
  t.equal((broadcast as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')], '@scaleout/broadcast')
  t.same(Object.keys(api).sort(), ['ClosedError', 'InvalidChannelError', 'InvalidHandlerError', 'OriginRefusedError', 'TooManyAttachmentsError', 'TooManyChannelsError', 'WebSocketMissingError', 'broadcast', 'default', 'errors'])
})
