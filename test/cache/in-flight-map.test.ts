import t from 'tap'
import { InFlightMap, RENEW_AFTER } from '../../plugins/cache/src/in-flight-map.js'

// The map of reads and fills in flight moves its entries to a fresh Map every RENEW_AFTER
// deletions (see in-flight-map.ts for why); what it holds must come through every move unchanged.

t.test('entries in flight come through every renewal unchanged', async (t) => {
  const flights = new InFlightMap<{ key: string }>()
  const long = Array.from({ length: 10 }, (_, i) => ({ key: `long-${i}` }))
  for (const value of long) flights.set(value.key, value)
  // Three renewals' worth of short flights landing, with the ten long ones still in the air.
  const landings = 3 * RENEW_AFTER + 7
  const sizes: number[] = []
  for (let i = 0; i < landings; i++) {
    flights.set(`short-${i}`, { key: `short-${i}` })
    sizes.push(flights.size)
    flights.delete(`short-${i}`)
  }
  t.same(sizes, Array(landings).fill(11), 'eleven in flight while each short one was')
  t.equal(flights.size, 10)
  for (const value of long) t.equal(flights.get(value.key), value, `${value.key} is the very value set`)
  t.same([...flights.values()].map((v) => v.key), long.map((v) => v.key), 'in the order they were set')
  t.equal(flights.get('short-0'), undefined, 'a landed flight is gone')
})

t.test('deleting a key that is not in flight changes nothing', async (t) => {
  const flights = new InFlightMap<number>()
  flights.set('a', 1)
  for (let i = 0; i < 2 * RENEW_AFTER; i++) flights.delete('missing')
  t.equal(flights.size, 1)
  t.equal(flights.get('a'), 1)
})
