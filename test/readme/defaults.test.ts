import t from 'tap'
import { normalise as broadcastOptions } from '../../plugins/broadcast/src/options.js'
import { normalize as cacheOptions, normalizeRoute } from '../../plugins/cache/src/options.js'
import { normalise as healthOptions } from '../../plugins/health/src/options.js'

// The defaults the READMEs' option tables give, as the plugins apply them. Load balancers and
// probes are configured against the health timings, and the broadcast limits are what the
// Security notes lean on: a default changed without its README must fail here.

t.test('@scaleout/broadcast: the option table\'s defaults', async (t) => {
  const { allowedOrigins, ...settings } = broadcastOptions({})
  t.same(settings, {
    prefix: 'scaleout:broadcast:',
    maxBytes: 65_536,
    timeout: 1000,
    heartbeatInterval: 5000,
    heartbeatMisses: 2,
    dedupWindow: 10_000,
    maxBufferedBytes: 1_048_576,
    maxChannelsPerSocket: 100
  })
  t.type(allowedOrigins, 'function')
})

t.test('@scaleout/health: the option table\'s defaults', async (t) => {
  const { detailsAllowed, exit, ...settings } = healthOptions({})
  t.same(settings, {
    paths: { live: '/health/live', ready: '/health/ready', startup: '/health/startup', details: '/health' },
    logLevel: 'silent',
    checks: [],
    redisCheck: { critical: true, timeout: 1000, interval: 2000, measurement: 'responseTime' },
    eventLoopDelay: { warn: 100, fail: 1000, interval: 1000 },
    heap: false,
    exposeDetails: false,
    instanceHeader: false,
    logInstance: true,
    signals: ['SIGTERM', 'SIGINT'],
    drainDelay: 10_000,
    drainDeadline: 25_000,
    version: undefined
  })
  t.equal(detailsAllowed({ ip: '127.0.0.1' } as never), false, 'detailsAllowList: nobody')
  t.type(exit, 'function')
})

t.test('@scaleout/health: heap: true, a check\'s own defaults, and drainDeadline past a long drainDelay', async (t) => {
  const settings = healthOptions({ heap: true, checks: { db: async () => {} }, drainDelay: 20_000 })
  t.same(settings.heap, { warn: 85, fail: 95, interval: 5000 })
  t.same(settings.checks.map((c) => [c.name, c.settings]), [['db', { critical: true, timeout: 1000, interval: 2000, measurement: 'responseTime' }]])
  t.equal(settings.drainDeadline, 35_000, 'drainDelay + 15000 when that is larger than 25000')
})

t.test('@scaleout/cache: the option table\'s defaults, and a route\'s', async (t) => {
  const { codec, ...settings } = cacheOptions({})
  t.same(settings, {
    base: 'scaleout:cache:json.v1:',
    ttlMs: 60_000,
    staleMs: 0,
    l1: { maxEntries: 1000, maxBytes: 16 * 1024 * 1024, ttlMs: 3_153_600_000_000 },
    timeoutMs: 250,
    lockTtlMs: 10_000,
    lockWaitMs: 3000,
    breaker: { threshold: 5, cooldownMs: 1000 },
    heartbeatMs: 1000,
    heartbeatMisses: 2
  })
  t.match(codec, { name: 'json', maxBytes: 1_048_576 })
  const { key, ...route } = normalizeRoute('/r', { ttl: '1s' })
  t.same(route, { url: '/r', ttlMs: 1000, vary: [], tags: [], scope: 'public', maxEntries: 10_000 })
  t.equal(key, undefined, 'key: the URL')
})
