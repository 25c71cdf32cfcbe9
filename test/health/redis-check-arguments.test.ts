import t from 'tap'
import { Redis } from 'ioredis'
import { redisCheck } from '@scaleout/health'

// redisCheck() took anything: given a URL (redisCheck(process.env.REDIS_URL), the form the
// `redis` option takes), it returned a check that failed on every run with "node.ping is not a
// function", so readiness failed for good with nothing pointing at the call; given options that
// are not an object (redisCheck(client, 500)) or a misspelt one, it kept the defaults without a
// word. Both are now refused at the call with SCALEOUT_ERR_INVALID_OPTION, as every option is.

const client = new Redis({ lazyConnect: true })
t.teardown(() => client.disconnect())

t.test('a client that is not an ioredis Redis or Cluster is refused at the call, with a coded error naming it', async (t) => {
  for (const value of ['redis://127.0.0.1:6379', undefined, null, {}, { ping: async () => 'PONG' }]) {
    t.throws(() => redisCheck(value as never), {
      code: 'SCALEOUT_ERR_INVALID_OPTION',
      message: '@scaleout/health: option `redisCheck() client` is invalid: expected an ioredis Redis or Cluster client (a URL goes in the plugin\'s redis option)'
    }, String(JSON.stringify(value)))
  }
})

t.test('options are checked as a check\'s options are, naming the closest known one', async (t) => {
  t.throws(() => redisCheck(client, 500 as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/health: option `redisCheck() options` is invalid: expected an object of check options' })
  t.throws(() => redisCheck(client, { timout: 100 } as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /did you mean `timeout`/ })
  // The previous release's names point to the new ones, here too.
  t.throws(() => redisCheck(client, { timeoutMs: 100 } as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /redisCheck\(\) options.timeoutMs` is invalid: expected no such option: did you mean `timeout`/ })
  t.throws(() => redisCheck(client, { intervalMs: 100 } as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /did you mean `interval`/ })
  t.throws(() => redisCheck(client, { timeout: 0 }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `redisCheck\(\) options.timeout` is invalid/ })
  t.throws(() => redisCheck(client, { critical: 'no' as never }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `redisCheck\(\) options.critical` is invalid/ })
})

t.test('a client and valid options give the check definition, options as given', async (t) => {
  const definition = redisCheck(client, { critical: false, interval: '5s' })
  t.same(Object.keys(definition).sort(), ['check', 'critical', 'interval'])
  t.equal(definition.critical, false)
  t.equal(definition.interval, '5s')
  t.type(definition.check, 'function')
  t.same(Object.keys(redisCheck(client)), ['check'])
})
