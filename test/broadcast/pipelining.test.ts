import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import broadcast from '@scaleout/broadcast'
import { appFor, redisFor } from '../helpers/index.js'

// ioredis auto-pipelining holds a command until setImmediate and queues a batch behind the one
// awaiting its replies: on the publish path that was latency and garbage per message. Our own
// publisher has it off; a caller's client keeps what the caller chose. ioredis opens a pipeline
// (Redis#pipeline) for every auto-pipelined batch, which is what is counted here.
t.test('our publisher sends each PUBLISH at once, outside auto-pipeline batches; a caller\'s client, or an explicit option, is left as configured', async (t) => {
  const server = await redisFor(t)
  const mine = new Redis(server.url, { enableAutoPipelining: true })
  t.teardown(() => mine.disconnect())
  const pipeline = Redis.prototype.pipeline
  let pipelines = 0
  Redis.prototype.pipeline = function (this: Redis, ...args: Parameters<Redis['pipeline']>) {
    pipelines++
    return pipeline.apply(this, args)
  }
  t.teardown(() => { Redis.prototype.pipeline = pipeline })

  const publishMany = async (app: FastifyInstance): Promise<number> => {
    pipelines = 0
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => await app.broadcast.publish('pipe', i)))
    t.ok(results.every((r) => r.remote), 'every publish reached Redis')
    return pipelines
  }

  const ours = appFor(t)
  await ours.register(broadcast, { redis: server.url, heartbeatInterval: false })
  t.equal(await publishMany(ours), 0, 'our client: no auto-pipeline batch')
  await ours.close()

  const theirs = appFor(t)
  await theirs.register(broadcast, { redis: mine, heartbeatInterval: false })
  t.equal(mine.options.enableAutoPipelining, true, 'the caller\'s option is untouched')
  t.ok(await publishMany(theirs) > 0, 'the caller\'s client still auto-pipelines (the count above can see it)')
  await theirs.close()

  const asked = appFor(t)
  await asked.register(broadcast, { redis: { url: server.url, enableAutoPipelining: true }, heartbeatInterval: false })
  t.ok(await publishMany(asked) > 0, 'enableAutoPipelining written in the redis option wins over our default')
})
