/** Every counter `stats()` reports, shared by the parts that bump them. */
export function newCounters (): {
  l1Hits: number
  l1Misses: number
  l2Hits: number
  l2Misses: number
  staleServed: number
  coalesced: number
  computed: number
  lockWaits: number
  lockTimeouts: number
  refreshErrors: number
  timeouts: number
  redisErrors: number
  skipped: number
  storeErrors: number
  decodeErrors: number
  busMessages: number
  busResyncs: number
} {
  return {
    l1Hits: 0,
    l1Misses: 0,
    l2Hits: 0,
    l2Misses: 0,
    staleServed: 0,
    coalesced: 0,
    computed: 0,
    lockWaits: 0,
    lockTimeouts: 0,
    refreshErrors: 0,
    timeouts: 0,
    redisErrors: 0,
    skipped: 0,
    storeErrors: 0,
    decodeErrors: 0,
    busMessages: 0,
    busResyncs: 0
  }
}

export type Counters = ReturnType<typeof newCounters>
