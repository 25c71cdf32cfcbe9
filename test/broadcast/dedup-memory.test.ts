import t from 'tap'
import { randomUUID } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { decodeEnvelope, encodeEnvelope } from '../../plugins/broadcast/src/envelope.js'
import { DedupWindow } from '../../plugins/broadcast/src/dedup.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

// An id read out of a message's text with a regex was a V8 view of that whole text: the window of
// recent ids kept the last `dedupWindow` messages alive (up to 64 KiB each by default), and every
// young-generation GC copied them.
t.test('the de-duplication window keeps the ids, not the messages they were read from', async (t) => {
  const window = new DedupWindow(1000)
  const body = JSON.stringify('x'.repeat(60_000))
  const metas: unknown[] = []
  let accepted = 0
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < 500; i++) {
    // A fresh string per message, as ioredis hands them over.
    const text = Buffer.from(encodeEnvelope(randomUUID(), 'host:1:abcdef01', Date.now(), body)).toString()
    const delivery = decodeEnvelope('c', text, 65_536)
    if (delivery !== undefined && window.add(delivery.meta.id)) accepted++
    // A handler that keeps the meta it was given does not keep the message either.
    metas.push(delivery?.meta)
  }
  gc()
  const grown = process.memoryUsage().heapUsed - before
  // 500 texts of 60 KB would be 30 MB; 500 ids and metas are a few hundred KB.
  t.ok(grown < 5_000_000, `heap grew by ${(grown / 1e6).toFixed(1)} MB`)
  t.equal(accepted, 500, 'every message decoded and recorded')
  t.equal(metas.length, 500)
})
