import t from 'tap'
import { collectGarbage, period, roundOrder } from '../../benchmarks/order.js'

t.test('the first rounds for four and for three variants', async (t) => {
  t.same([0, 1, 2, 3].map((r) => roundOrder(4, r)), [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]])
  t.same([0, 1, 2, 3, 4, 5].map((r) => roundOrder(3, r)), [[0, 1, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0], [0, 2, 1], [1, 0, 2]])
  t.same([period(1), period(2), period(5), period(6)], [2, 2, 10, 6])
})

t.test('over a period, each variant is in each slot equally often and right after each other variant equally often', async (t) => {
  for (let count = 1; count <= 9; count++) {
    const rounds = Array.from({ length: period(count) }, (_, r) => roundOrder(count, r))
    // slots, keyed 'v s': rounds measuring v in slot s; after, keyed 'v u': rounds measuring v right after u.
    const slots = new Map<string, number>()
    const after = new Map<string, number>()
    const bump = (counts: Map<string, number>, key: string): void => { counts.set(key, (counts.get(key) ?? 0) + 1) }
    for (const order of rounds) {
      t.same([...order].sort((a, b) => a - b), Array.from({ length: count }, (_, i) => i), `${count}: a round measures every variant once`)
      order.forEach((v, slot) => { bump(slots, `${v} ${slot}`) })
      for (let i = 1; i < count; i++) bump(after, `${String(order[i])} ${String(order[i - 1])}`)
    }
    const each = period(count) / count
    const pairs = Array.from({ length: count * count }, (_, k) => [Math.floor(k / count), k % count] as const)
    t.ok(pairs.every(([v, slot]) => slots.get(`${v} ${slot}`) === each), `${count}: every slot ${each} times`)
    t.ok(pairs.every(([v, before]) => (after.get(`${v} ${before}`) ?? 0) === (v === before ? 0 : each)), `${count}: after every other variant ${each} times`)
  }
})

t.test('the order repeats after a period', async (t) => {
  t.same(roundOrder(5, 13), roundOrder(5, 3))
  t.same(roundOrder(4, 6), roundOrder(4, 2))
})

t.test('a collection before each measurement when node exposes gc, and nothing when it does not', async (t) => {
  const holder = globalThis as { gc?: () => void }
  const own = holder.gc
  t.teardown(() => { holder.gc = own })
  let calls = 0
  holder.gc = () => { calls++ }
  collectGarbage()
  t.equal(calls, 1)
  delete holder.gc
  collectGarbage()
  t.equal(calls, 1)
})
