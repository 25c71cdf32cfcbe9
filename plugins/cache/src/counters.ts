/** Every counter `stats()` reports, shared by the parts that bump them. */
export class Counters {
  l1Hits = 0
  l1Misses = 0
  l2Hits = 0
  l2Misses = 0
  staleServed = 0
  coalesced = 0
  computed = 0
  lockWaits = 0
  lockTimeouts = 0
  refreshErrors = 0
  timeouts = 0
  redisErrors = 0
  skipped = 0
  storeErrors = 0
  decodeErrors = 0
  busMessages = 0
  busResyncs = 0
  busRejected = 0
}
