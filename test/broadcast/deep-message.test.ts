import t from 'tap'
import { redisFor } from '../helpers/index.js'
import { startInstance } from './helpers.js'

// Regression: a message JSON.stringify could encode (about 5,000 levels) but nested deeper than the
// check for __proto__ keys could follow (its reviver recursed out of stack at about 3,000) made
// publish() throw a bare RangeError instead of the codec's coded refusal.
t.test('a message nested too deeply to check is refused with SCALEOUT_ERR_ENCODE, and nothing is sent', async (t) => {
  const server = await redisFor(t)
  const instance = await startInstance(t, { redis: server.url })
  const deep = JSON.parse('{"constructor":1,"b":' + '{"a":'.repeat(4000) + '1' + '}'.repeat(4000) + '}') as unknown
  const { commands } = await server.countCommands(async () => {
    await t.rejects(instance.app.broadcast.publish('room', deep), {
      code: 'SCALEOUT_ERR_ENCODE',
      statusCode: 500,
      message: 'Value could not be encoded: nested too deeply to be checked for __proto__ keys'
    })
  })
  t.same(commands, {}, 'nothing reached Redis')
  t.equal(instance.app.broadcast.stats().published, 0)
  // The same shape, shallow enough to check, goes out with the key the check keeps.
  const shallow = JSON.parse('{"constructor":1,"b":' + '{"a":'.repeat(100) + '1' + '}'.repeat(100) + '}') as unknown
  t.match(await instance.app.broadcast.publish('room', shallow), { delivered: 0 })
  t.equal(instance.app.broadcast.stats().published, 1)
})
