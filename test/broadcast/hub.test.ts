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

// A "once" helper that re-arms itself (unsubscribe, then subscribe again as it runs) joins the
// channel while the message is being delivered: it must get the next message, not this one again.
t.test('a listener that joins during a delivery gets the next message, not this one', async (t) => {
  const hub = new Hub()
  const delivery = (id: string): Delivery => new Delivery(Object.freeze({ channel: 'c', id, origin: 'o', time: 1, local: false }), '1')
  const runs: string[] = []
  const other = { deliver: () => true }
  const rearming = {
    deliver (d: Delivery): boolean {
      runs.push(d.meta.id)
      hub.remove('c', rearming)
      hub.add('c', rearming)
      return true
    }
  }
  hub.add('c', rearming)
  hub.add('c', other)
  t.equal(hub.deliver(delivery('1')), 2)
  t.equal(hub.deliver(delivery('2')), 2)
  t.same(runs, ['1', '2'])
  const late = { deliver: (d: Delivery) => { runs.push('late ' + d.meta.id); return true } }
  const joining = { deliver: () => { hub.add('c', late); return true } }
  hub.add('c', joining)
  t.equal(hub.deliver(delivery('3')), 3, 'the listener that joined meanwhile is not counted')
  t.equal(hub.deliver(delivery('4')), 4)
  t.same(runs, ['1', '2', '3', '4', 'late 4'])
  t.equal(hub.listeners, 4)
})
