import t from 'tap'
import { Hub } from '../../plugins/broadcast/src/hub.js'
import { Delivery } from '../../plugins/broadcast/src/envelope.js'

// A message can arrive from Redis for a channel whose last local listener left a moment ago (before
// Redis processed the UNSUBSCRIBE): it reaches nobody, and nothing breaks.
t.test('a message for a channel without local listeners reaches nobody', async (t) => {
  const hub = new Hub()
  const delivery = new Delivery(Object.freeze({ channel: 'left', id: 'x', origin: 'o', time: 1, local: false }), '1')
  t.equal(hub.deliver(delivery).reached, 0)
  const listener = { deliver: () => true }
  t.equal(hub.add('left', listener), true)
  t.equal(hub.deliver(delivery).reached, 1)
  t.equal(hub.remove('left', listener), true)
  t.equal(hub.has('left'), false)
  t.equal(hub.deliver(delivery).reached, 0)
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
  t.equal(hub.deliver(delivery('1')).reached, 2)
  t.equal(hub.deliver(delivery('2')).reached, 2)
  t.same(runs, ['1', '2'])
  const late = { deliver: (d: Delivery) => { runs.push('late ' + d.meta.id); return true } }
  const joining = { deliver: () => { hub.add('c', late); return true } }
  hub.add('c', joining)
  t.equal(hub.deliver(delivery('3')).reached, 3, 'the listener that joined meanwhile is not counted')
  t.equal(hub.deliver(delivery('4')).reached, 4)
  t.same(runs, ['1', '2', '3', '4', 'late 4'])
  t.equal(hub.listeners, 4)
})

const message = (channel: string, id: string): Delivery => new Delivery(Object.freeze({ channel, id, origin: 'o', time: 1, local: true }), '1')

// A listener that publishes as it runs (a bot answering) used to have its message delivered there
// and then: the listeners after it got the reaction before its cause. Each listener now gets the
// messages in the order they were published, causes first, whatever the nesting.
t.test('a message published during a delivery reaches every listener after the one being delivered', async (t) => {
  const hub = new Hub()
  const seen: Record<string, string[]> = { first: [], second: [], third: [] }
  const receipts: Record<string, { reached: number }> = {}
  hub.add('c', {
    deliver (d) {
      seen.first?.push(d.meta.id)
      if (d.meta.id === 'A') {
        receipts.B = hub.deliver(message('c', 'B'))
        t.same(seen, { first: ['A'], second: [], third: [] }, 'B waits for A to reach everyone')
        receipts.C = hub.deliver(message('c', 'C'))
      }
      return true
    }
  })
  hub.add('c', {
    deliver (d) {
      seen.second?.push(d.meta.id)
      if (d.meta.id === 'B') receipts.D = hub.deliver(message('c', 'D'))
      return true
    }
  })
  hub.add('c', { deliver: (d) => { seen.third?.push(d.meta.id); return d.meta.id !== 'C' } })
  const a = hub.deliver(message('c', 'A'))
  t.same(seen, { first: ['A', 'B', 'C', 'D'], second: ['A', 'B', 'C', 'D'], third: ['A', 'B', 'C', 'D'] })
  t.same({ A: a.reached, B: receipts.B?.reached, C: receipts.C?.reached, D: receipts.D?.reached }, { A: 3, B: 3, C: 2, D: 3 })
})

// The join number is taken when a message is published: a listener that joined before a queued
// message was published gets it, one that joined after does not (nor the message being delivered).
t.test('a queued message reaches the listeners that joined before it was published, not after', async (t) => {
  const hub = new Hub()
  const runs: string[] = []
  const early = { deliver: (d: Delivery) => { runs.push('early ' + d.meta.id); return true } }
  const late = { deliver: (d: Delivery) => { runs.push('late ' + d.meta.id); return true } }
  hub.add('c', {
    deliver (d) {
      if (d.meta.id === 'A') {
        hub.add('c', early)
        hub.deliver(message('c', 'B'))
        hub.add('c', late)
      }
      return true
    }
  })
  hub.deliver(message('c', 'A'))
  t.same(runs, ['early B'])
  hub.deliver(message('c', 'E'))
  t.same(runs, ['early B', 'early E', 'late E'])
})

// A listener that throws (a socket of the caller's whose send fails) stops that message's delivery
// and its error reaches the caller, as before; the messages published meanwhile must still go out,
// and the hub must not stay "delivering" (queueing every later message for ever).
t.test('a listener that throws loses none of the messages queued behind, and the hub keeps delivering', async (t) => {
  const hub = new Hub()
  const runs: string[] = []
  hub.add('c', {
    deliver (d) {
      if (d.meta.id === 'A') {
        hub.deliver(message('c', 'B'))
        hub.deliver(message('c', 'C'))
      }
      return true
    }
  })
  hub.add('c', { deliver: (d) => { runs.push(d.meta.id); return true } })
  hub.add('c', {
    deliver (d) {
      if (d.meta.id === 'A' || d.meta.id === 'B') throw new Error(`send ${d.meta.id} failed`)
      return true
    }
  })
  t.throws(() => hub.deliver(message('c', 'A')), { message: 'send B failed' }, 'the last error reaches the caller')
  t.same(runs, ['A', 'B', 'C'], 'B and C were still delivered')
  hub.add('other', { deliver: (d) => { runs.push(d.meta.id); return true } })
  t.equal(hub.deliver(message('other', 'x')).reached, 1, 'delivered at once, not queued')
  t.equal(hub.deliver(message('c', 'D')).reached, 3)
  t.same(runs, ['A', 'B', 'C', 'x', 'D'])
})
