import t from 'tap'
import { bounded, isUnavailable, noteConnectionError, toRedisError, RedisTimeoutError, RedisUnavailableError } from '@scaleout/core'

function replyError (message: string): Error {
  const err = new Error(message)
  err.name = 'ReplyError'
  return err
}

t.test('toRedisError codes what means "Redis is away"', async (t) => {
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

  const already = new RedisTimeoutError(10)
  t.equal(toRedisError(already), already)
  const alreadyUnavailable = new RedisUnavailableError('x')
  t.equal(toRedisError(alreadyUnavailable), alreadyUnavailable)

  t.equal(isUnavailable('not an error'), false)
  t.equal(isUnavailable(closed), true, 'an uncoded connection error')
  t.equal(isUnavailable(replyError('CLUSTERDOWN The cluster is down')), true)
  t.equal(isUnavailable(wrongType), false)
})

t.test('bounded() resolves, rejects with coded errors, and clears its timer', async (t) => {
  t.equal(await bounded(Promise.resolve('ok'), 50), 'ok')
  await t.rejects(bounded(Promise.reject(new Error('Connection is closed.')), 50), { code: 'SCALEOUT_ERR_REDIS_UNAVAILABLE' })
  const wrongType = replyError('WRONGTYPE x')
  await t.rejects(bounded(Promise.reject(wrongType), 50), { code: 'SCALEOUT_ERR_REDIS_REPLY', message: 'Redis refused the command (WRONGTYPE)', cause: wrongType })
  await t.rejects(bounded(new Promise(() => {}), 20), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 20ms' })
})

// Regression: error replies passed through with Redis's own text, which became a client's 500 body.
t.test('error replies become coded errors that carry no Redis text', async (t) => {
  const cases: Array<[string, string, number, string]> = [
    ['OOM command not allowed when used memory > \'maxmemory\'.', 'SCALEOUT_ERR_REDIS_OOM', 503, 'Redis is out of memory (maxmemory reached) and refused the write'],
    ['NOPERM this user has no permissions to run the \'eval\' command', 'SCALEOUT_ERR_REDIS_NOPERM', 500, 'The Redis user lacks a permission this plugin needs (see the ACL log)'],
    ['WRONGTYPE Operation against a key holding the wrong kind of value', 'SCALEOUT_ERR_REDIS_REPLY', 500, 'Redis refused the command (WRONGTYPE)'],
    ['ERR user_script:1: Script attempted to access nonexistent global variable', 'SCALEOUT_ERR_REDIS_REPLY', 500, 'Redis refused the command (ERR)'],
    ['weird lower-case reply', 'SCALEOUT_ERR_REDIS_REPLY', 500, 'Redis refused the command (ERR)'],
    ['WRONGPASS invalid username-password pair or user is disabled.', 'SCALEOUT_ERR_REDIS_AUTH', 503, 'Redis authentication failed: check the password (and ACL user) in the Redis URL or options'],
    ['NOAUTH Authentication required.', 'SCALEOUT_ERR_REDIS_AUTH', 503, 'Redis authentication failed: check the password (and ACL user) in the Redis URL or options'],
    ['ERR invalid password', 'SCALEOUT_ERR_REDIS_AUTH', 503, 'Redis authentication failed: check the password (and ACL user) in the Redis URL or options']
  ]
  for (const [reply, code, statusCode, message] of cases) {
    const raw = replyError(reply)
    const coded = toRedisError(raw) as Error & { code: string, statusCode: number }
    t.same({ code: coded.code, statusCode: coded.statusCode, message: coded.message }, { code, statusCode, message }, reply)
    t.equal(coded.cause, raw, 'the detail stays in cause, for logs')
    t.equal(isUnavailable(coded), false, 'not an outage: a session does not turn it into a 503 of its own')
    t.equal(toRedisError(coded), coded)
  }
})

// Regression: a wrong password only ever showed as "unavailable" (the client never becomes ready).
t.test('a client whose last connection error was an auth failure fails calls with SCALEOUT_ERR_REDIS_AUTH', async (t) => {
  const client = {}
  const closed = new Error('Stream isn\'t writeable and enableOfflineQueue options is false')
  t.equal((toRedisError(closed, 0, client) as { code?: string }).code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')
  const wrongPass = replyError('WRONGPASS invalid username-password pair or user is disabled.')
  noteConnectionError(client, wrongPass)
  const coded = toRedisError(closed, 0, client)
  t.same({ code: (coded as { code?: string }).code, cause: coded.cause }, { code: 'SCALEOUT_ERR_REDIS_AUTH', cause: wrongPass })
  await t.rejects(bounded(Promise.reject(closed), 50, client), { code: 'SCALEOUT_ERR_REDIS_AUTH' })
  // A Cluster's "Failed to refresh slots cache" names the node's error.
  const cluster = {}
  noteConnectionError(cluster, Object.assign(new Error('Failed to refresh slots cache.'), { lastNodeError: wrongPass }))
  t.equal((toRedisError(closed, 0, cluster) as { code?: string }).code, 'SCALEOUT_ERR_REDIS_AUTH')
  // Another connection error, or the client becoming ready, forgets it.
  noteConnectionError(client, new Error('connect ECONNREFUSED 127.0.0.1:1'))
  t.equal((toRedisError(closed, 0, client) as { code?: string }).code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')
  noteConnectionError(cluster, null)
  t.equal((toRedisError(closed, 0, cluster) as { code?: string }).code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')
})
