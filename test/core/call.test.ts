import t from 'tap'
import { bounded, isUnavailable, toRedisError, RedisTimeoutError, RedisUnavailableError } from '@scaleout/core'

function replyError (message: string): Error {
  const err = new Error(message)
  err.name = 'ReplyError'
  return err
}

t.test('toRedisError codes what means "Redis is away" and passes command errors through', async (t) => {
  const closed = new Error('Stream isn\'t writeable and enableOfflineQueue options is false')
  const mapped = toRedisError(closed)
  t.equal((mapped as { code?: string }).code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')
  t.equal(mapped.message, 'Redis is unavailable: Stream isn\'t writeable and enableOfflineQueue options is false')
  t.equal(mapped.cause, closed)

  const timedOut = toRedisError(new Error('Command timed out'), 300)
  t.equal((timedOut as { code?: string }).code, 'SCALEOUT_ERR_REDIS_TIMEOUT')
  t.equal(timedOut.message, 'Redis did not answer within 300ms')

  const loading = toRedisError(replyError('LOADING Redis is loading the dataset in memory'))
  t.equal((loading as { code?: string }).code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')

  const wrongType = replyError('WRONGTYPE Operation against a key holding the wrong kind of value')
  t.equal(toRedisError(wrongType), wrongType)

  const already = new RedisTimeoutError(10)
  t.equal(toRedisError(already), already)
  const alreadyUnavailable = new RedisUnavailableError('x')
  t.equal(toRedisError(alreadyUnavailable), alreadyUnavailable)

  t.equal(isUnavailable('not an error'), false)
  t.equal(isUnavailable(replyError('CLUSTERDOWN The cluster is down')), true)
  t.equal(isUnavailable(wrongType), false)
})

t.test('bounded() resolves, rejects with coded errors, and clears its timer', async (t) => {
  t.equal(await bounded(Promise.resolve('ok'), 50), 'ok')
  await t.rejects(bounded(Promise.reject(new Error('Connection is closed.')), 50), { code: 'SCALEOUT_ERR_REDIS_UNAVAILABLE' })
  const wrongType = replyError('WRONGTYPE x')
  await t.rejects(bounded(Promise.reject(wrongType), 50), wrongType)
  await t.rejects(bounded(new Promise(() => {}), 20), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 20ms' })
})
