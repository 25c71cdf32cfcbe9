import t from 'tap'
import { Hub } from '../../plugins/broadcast/src/hub.js'
import { Delivery } from '../../plugins/broadcast/src/envelope.js'

// A message can arrive from Redis for a channel whose last local listener left a moment ago (before
// Redis processed the UNSUBSCRIBE): it reaches nobody, and nothing breaks.
t.test('a message for a channel without local listeners reaches nobody', async (t) => {
  const hub = new Hub()
  const delivery = new Delivery(Object.freeze({ channel: 'left', id: 'x', origin: 'o', time: 1, local: false }), '1')
  t.equal(hub.deliver(delivery), 0)
  const listener = { deliver: () => true }
  t.equal(hub.add('left', listener), true)
  t.equal(hub.deliver(delivery), 1)
  t.equal(hub.remove('left', listener), true)
  t.equal(hub.has('left'), false)
  t.equal(hub.deliver(delivery), 0)
  t.equal(hub.remove('left', listener), false, 'removing twice says nothing changed')
})
