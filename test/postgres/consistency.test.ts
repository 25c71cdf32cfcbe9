import { connect, createServer, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import pg from 'pg'
import { signToken } from '../../plugins/postgres/src/token.js'
import { MAX_LSN, parseLsn } from '../../plugins/postgres/src/wal.js'
import { logSink } from '../helpers/fixtures.js'
import { PostgresCluster } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/ports.js'
import { build, NOTES, OLD_SECRET, SECRET, tokenCookie } from './setup.js'
import type { PostgresOptions } from '@scaleout/postgres'

// Read-your-writes across instances: one primary, two streaming replicas, shared by every test here.

let cluster: PostgresCluster
let nextId = 1
t.before(async () => {
  cluster = await PostgresCluster.start(2)
  await cluster.primary.query(NOTES)
  for (const replica of cluster.replicas) await replica.waitCaughtUp(cluster.primary)
})
t.teardown(async () => { await cluster.stop() })

async function delay (ms: number): Promise<void> {
  await Promise.all(cluster.replicas.map(async (r) => { await r.setApplyDelay(ms) }))
  if (ms === 0) for (const r of cluster.replicas) await r.waitCaughtUp(cluster.primary)
}

function options (extra: Partial<PostgresOptions> = {}): PostgresOptions {
  return { primary: cluster.primary.url, replicas: cluster.replicas.map((r) => r.url), secret: SECRET, routeHeader: true, ...extra }
}

async function instance (t: Test, extra: Partial<PostgresOptions> = {}): Promise<FastifyInstance> {
  return await build(t, options(extra), {}, (app) => {
    app.post('/write-then-read', async (request) => {
      const id = nextId++
      await request.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [id, 'same request'])
      const { rows } = await request.db.read.query<{ body: string }>('SELECT body FROM notes WHERE id = $1', [id])
      return { body: rows[0]?.body ?? null }
    })
    app.post('/tx', async (request) => {
      const id = nextId++
      await request.db.transaction(async (tx) => { await tx.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [id, 'tx']) })
      return { id }
    })
  })
}

function route (res: LightMyRequestResponse): string | undefined {
  return res.headers['x-scaleout-db-route'] as string | undefined
}

t.test('200 x (write on A, read at once on B with the cookie), replicas 3 s behind: 0 stale reads; clients that never wrote stay on replicas', async (t) => {
  // A generous deadline: on a loaded CI machine a write must not time out, or the pair proves nothing.
  const a = await instance(t, { timeout: '10s' })
  const b = await instance(t, { timeout: '10s' })
  await delay(3000)
  t.teardown(async () => { await delay(0) })
  const stale: unknown[] = []
  let tokenless = 0
  let tokenlessOnReplica = 0
  let tokenlessStale = 0
  const pair = async (): Promise<void> => {
    const id = nextId++
    const written = await a.inject({ method: 'POST', url: '/notes', payload: { id, body: `note ${id}` } })
    if (written.statusCode !== 200) {
      stale.push({ write: written.statusCode, body: written.body })
      return
    }
    const cookie = tokenCookie(written) as string
    const read = await b.inject({ url: `/notes/${id}`, headers: { cookie } })
    if (read.json().body !== `note ${id}`) stale.push({ write: written.statusCode, read: read.statusCode, route: route(read), body: read.body })
    // A client with no token, meanwhile.
    for (let i = 0; i < 3; i++) {
      const other = await b.inject(`/notes/${id}`)
      tokenless++
      if (other.json().body === null) tokenlessStale++
      if (route(other) === 'replica;reason=replica') tokenlessOnReplica++
    }
  }
  for (let batch = 0; batch < 10; batch++) await Promise.all(Array.from({ length: 20 }, pair))
  t.same(stale, [], 'no stale read')
  t.equal(tokenless, 600)
  t.ok(tokenlessStale > 0, 'the replicas really were behind: clients without the token saw stale data')
  t.ok(tokenlessOnReplica / tokenless >= 0.95, `token-less reads on a replica: ${tokenlessOnReplica} of ${tokenless}`)
  const routes = b.db.stats().routes
  t.equal(routes.tokenAhead, 200, 'every read with a fresh token went to the primary after the bounded wait')
})

t.test('the token: response header and cookie after a write, read back from either', async (t) => {
  const a = await instance(t)
  const b = await instance(t, { sampleInterval: '1h', replicaWait: '2s', timeout: '5s' })
  const id = nextId++
  const written = await a.inject({ method: 'POST', url: '/notes', payload: { id, body: 'api' } })
  const token = written.headers['x-scaleout-db-token'] as string
  t.match(token, /^1\.[0-9a-f]+\.[0-9a-z]+\.[A-Za-z0-9_-]{43}$/)
  t.match(written.headers['set-cookie'], new RegExp(`^scaleout-db-token=${token.replace(/\./g, '\\.')}; Max-Age=60; Path=/; Expires=[^;]+ GMT; HttpOnly; SameSite=Lax$`))
  // B sampled long ago: it asks the replica whether it has replayed the token, and reads there.
  const viaHeader = await b.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': token } })
  t.same(viaHeader.json(), { body: 'api' })
  t.equal(route(viaHeader), 'replica;reason=caughtUpWait')
  const viaCookie = await b.inject({ url: `/notes/${id}`, headers: { cookie: `xscaleout-db-token=bad; scaleout-db-token=${token}` } })
  t.same(viaCookie.json(), { body: 'api' })
  t.equal(route(viaCookie), 'replica;reason=replica', 'the probe taught B the replica position: no wait this time')
  t.equal(viaCookie.headers['set-cookie'], undefined, 'a read sets no cookie')
  t.equal(viaCookie.headers['x-scaleout-db-token'], undefined)
  // fastify.db.read is not request-scoped: no token.
  const stats = b.db.stats()
  t.equal(stats.routes.caughtUpWait, 1)
  t.equal(stats.routes.replica, 1)
})

t.test('replicaWait 0: a read whose token is ahead of every replica goes to the primary without waiting for one', async (t) => {
  const a = await instance(t, { replicaWait: 0, sampleInterval: '1h' })
  await delay(3000)
  t.teardown(async () => { await delay(0) })
  const id = nextId++
  const written = await a.inject({ method: 'POST', url: '/notes', payload: { id, body: 'no wait' } })
  const read = await a.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': written.headers['x-scaleout-db-token'] as string } })
  t.same(read.json(), { body: 'no wait' })
  t.equal(route(read), 'primary;reason=tokenAhead')
  const routes = a.db.stats().routes
  t.equal(routes.tokenAhead, 1)
  t.equal(routes.caughtUpWait, 0)
})

// The header used to win whenever it was present: an empty, garbage, older or repeated one hid the
// cookie's newer token, and the client read on a replica that had not replayed its own write.
t.test('header and cookies: the most recent valid token counts, whatever else the request carries', async (t) => {
  const a = await instance(t, { replicaWait: 0, sampleInterval: '1h' })
  await delay(3000)
  t.teardown(async () => { await delay(0) })
  const first = nextId++
  const older = (await a.inject({ method: 'POST', url: '/notes', payload: { id: first, body: 'first' } })).headers['x-scaleout-db-token'] as string
  const id = nextId++
  const newest = (await a.inject({ method: 'POST', url: '/notes', payload: { id, body: 'second' } })).headers['x-scaleout-db-token'] as string
  const cases: Array<[string, Record<string, string>]> = [
    ['cookie, older header', { cookie: `scaleout-db-token=${newest}`, 'x-scaleout-db-token': older }],
    ['cookie, empty header', { cookie: `scaleout-db-token=${newest}`, 'x-scaleout-db-token': '' }],
    ['cookie, garbage header', { cookie: `scaleout-db-token=${newest}`, 'x-scaleout-db-token': 'null' }],
    ['older cookie, header', { cookie: `scaleout-db-token=${older}`, 'x-scaleout-db-token': newest }],
    ['the header twice', { 'x-scaleout-db-token': `${newest}, ${newest}` }],
    ['garbage, then the token, in one header', { 'x-scaleout-db-token': `null,${older}, ${newest}` }],
    // A browser sends two cookies of one name when their Path or Domain differ (set before a change
    // of either), usually the older one first.
    ['a garbage cookie, then the token', { cookie: `scaleout-db-token=null; scaleout-db-token=${newest}` }]
  ]
  for (const [what, headers] of cases) {
    const read = await a.inject({ url: `/notes/${id}`, headers })
    t.same(read.json(), { body: 'second' }, what)
    t.equal(route(read), 'primary;reason=tokenAhead', what)
  }
  const beyond = await a.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': `a,b,c,d,${newest}` } })
  t.same([beyond.json(), route(beyond)], [{ body: null }, 'replica;reason=replica'], 'a fifth token in one header is not read')
  const fifth = await a.inject({ url: `/notes/${id}`, headers: { cookie: `${['a', 'b', 'c', 'd', newest].map((v) => `scaleout-db-token=${v}`).join('; ')}` } })
  t.same([fifth.json(), route(fifth)], [{ body: null }, 'replica;reason=replica'], 'nor a fifth cookie of the name')
})

t.test('two token cookies of one name, the older first: the newer counts, though the replicas have the older one\'s write', async (t) => {
  const a = await instance(t, { replicaWait: 0, sampleInterval: 100 })
  const first = nextId++
  const older = (await a.inject({ method: 'POST', url: '/notes', payload: { id: first, body: 'first' } })).headers['x-scaleout-db-token'] as string
  await delay(0)
  // The sampler has seen the replicas past the older token's write.
  await waitUntil('the replicas to be sampled past the first write', async () => (await a.inject({ url: `/notes/${first}`, headers: { 'x-scaleout-db-token': older } })).headers['x-scaleout-db-route'] === 'replica;reason=replica', 5000, 50)
  await delay(5000)
  t.teardown(async () => { await delay(0) })
  const id = nextId++
  const newest = (await a.inject({ method: 'POST', url: '/notes', payload: { id, body: 'second' } })).headers['x-scaleout-db-token'] as string
  const older1 = await a.inject({ url: `/notes/${id}`, headers: { cookie: `scaleout-db-token=${older}` } })
  t.same([older1.json(), route(older1)], [{ body: null }, 'replica;reason=replica'], 'the older cookie alone reads a replica, which lacks the newer write')
  const both = await a.inject({ url: `/notes/${id}`, headers: { cookie: `scaleout-db-token=${older}; other=1; scaleout-db-token=${newest}` } })
  t.same([both.json(), route(both)], [{ body: 'second' }, 'primary;reason=tokenAhead'])
})

// A wait of nearly the whole timeout left the primary a millisecond, and the read failed.
t.test('a read that waits for a replica waits at most half its budget: the primary still answers', async (t) => {
  const a = await build(t, options({ timeout: 2000, replicaWait: 1999, sampleInterval: '1h' }), {}, (app) => {
    // A read that takes 300 ms: it fits in half the budget, not in what a full wait would leave.
    app.get('/slow-notes/:id', async (request) => {
      const { rows } = await request.db.read.query<{ body: string }>('SELECT body, pg_sleep(0.3) FROM notes WHERE id = $1', [Number((request.params as { id: string }).id)])
      return { body: rows[0]?.body ?? null }
    })
  })
  await delay(3000)
  t.teardown(async () => { await delay(0) })
  const id = nextId++
  const written = await a.inject({ method: 'POST', url: '/notes', payload: { id, body: 'waited' } })
  // The replica is 3 s behind: the wait (1 s of the 2 s budget) ends without it, and the primary answers.
  const read = await a.inject({ url: `/slow-notes/${id}`, headers: { 'x-scaleout-db-token': written.headers['x-scaleout-db-token'] as string } })
  t.same([read.statusCode, read.json(), route(read)], [200, { body: 'waited' }, 'primary;reason=tokenAhead'])
})

/** A TCP proxy whose target can be switched; `switchTo` also cuts the connections open now. */
async function switchingProxy (t: Test, port: number): Promise<{ url: (server: { url: string }) => string, switchTo: (port: number) => void }> {
  let target = port
  const open = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1')
    for (const s of [client, upstream]) {
      open.add(s)
      s.on('close', () => { open.delete(s); client.destroy(); upstream.destroy() }).on('error', () => {})
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of open) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  const proxyPort = (server.address() as { port: number }).port
  return {
    url: (s) => s.url.replace(/@[^/]+\//, `@127.0.0.1:${proxyPort}/`),
    switchTo: (next) => {
      target = next
      for (const s of open) s.destroy()
    }
  }
}

// A replica's position was only ever raised: once its address reached a server further behind (a
// re-cloned replica, a balancer over several), reads with a token were served there, stale.
t.test('a replica address that starts reaching a server further behind: its position falls, and token reads leave it', async (t) => {
  const [ahead, behind] = cluster.replicas as [typeof cluster.primary, typeof cluster.primary]
  const proxy = await switchingProxy(t, ahead.port)
  await behind.setApplyDelay(60_000)
  t.teardown(async () => {
    await behind.setApplyDelay(0)
    await behind.waitCaughtUp(cluster.primary)
  })
  const a = await build(t, { primary: cluster.primary.url, replicas: proxy.url(ahead), secret: SECRET, routeHeader: true, sampleInterval: 50, replicaWait: 0 })
  const id = nextId++
  const written = await a.inject({ method: 'POST', url: '/notes', payload: { id, body: 'mine' } })
  const token = written.headers['x-scaleout-db-token'] as string
  const need = BigInt('0x' + token.split('.')[1])
  await waitUntil('the replica seen past the write', () => (parseLsn(a.db.stats().replicas[0]?.lsn) ?? 0n) >= need, 10_000)
  const before = await a.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': token } })
  t.same([before.json(), route(before)], [{ body: 'mine' }, 'replica;reason=replica'])

  proxy.switchTo(behind.port)
  await waitUntil('the position fell', () => (parseLsn(a.db.stats().replicas[0]?.lsn) ?? MAX_LSN) < need, 10_000)
  const after = await a.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': token } })
  t.same([after.json(), route(after)], [{ body: 'mine' }, 'primary;reason=tokenAhead'], 'not the replica that lacks the write')
})

t.test('within one request, reads after a write go to the primary; a transaction in a request hands out a token', async (t) => {
  const app = await instance(t)
  await delay(3000)
  t.teardown(async () => { await delay(0) })
  const res = await app.inject({ method: 'POST', url: '/write-then-read' })
  t.same(res.json(), { body: 'same request' })
  t.equal(route(res), 'primary;reason=afterWrite')
  t.type(res.headers['x-scaleout-db-token'], 'string')
  const tx = await app.inject({ method: 'POST', url: '/tx' })
  const token = tx.headers['x-scaleout-db-token'] as string
  t.type(token, 'string')
  const after = await app.inject({ url: `/notes/${tx.json().id as number}`, headers: { 'x-scaleout-db-token': token } })
  t.same(after.json(), { body: 'tx' })
  t.equal(route(after), 'primary;reason=tokenAhead')
  const lsn = parseLsn(await cluster.primary.lsn()) as bigint
  const minted = BigInt('0x' + token.split('.')[1])
  t.ok(minted <= lsn, 'the token names a position the primary has reached')
})

t.test('a write of unknown outcome in a request: its 503 carries the largest position, and that client reads on the primary', async (t) => {
  const app = await build(t, options(), {}, (app) => {
    app.post('/dies', async (request) => (await request.db.write.query('SELECT pg_terminate_backend(pg_backend_pid())')).rows)
    app.get('/one', async (request) => (await request.db.read.query('SELECT 1 AS one')).rows[0])
  })
  const res = await app.inject({ method: 'POST', url: '/dies' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'SCALEOUT_ERR_DB_OUTCOME_UNKNOWN')
  const token = res.headers['x-scaleout-db-token'] as string
  t.equal(token.split('.')[1], 'ffffffffffffffff', 'the header\'s token')
  t.match(res.headers['set-cookie'], new RegExp(`^scaleout-db-token=${token.replace(/[.]/g, '\\.')};`), 'and the cookie\'s')
  const read = await app.inject({ url: '/one', headers: { 'x-scaleout-db-token': token } })
  t.same(read.json(), { one: 1 })
  t.equal(route(read), 'primary;reason=tokenAhead', 'no replica can have replayed it')
  t.equal(route(await app.inject('/one')), 'replica;reason=replica', 'a client without it still reads on a replica')
})

t.test('a primary that is in fact a standby (demoted): writes answer SCALEOUT_ERR_DB_READ_ONLY, logged once; a write through read() on a replica is the caller\'s error, coded', async (t) => {
  const sink = logSink('error')
  const app = await build(t, { primary: cluster.replicas[0]?.url, replicas: [cluster.replicas[1]?.url as string], secret: SECRET, sampleInterval: 50 }, {
    logger: sink.logger
  }, (app) => {
    app.post('/select', async (request) => (await request.db.write.query('SELECT 1 AS one')).rows[0])
    app.post('/sneaky', async (request) => (await request.db.read.query('INSERT INTO notes (id, body) VALUES (-1, $1)', ['x'])).rows)
  })
  const res = await app.inject({ method: 'POST', url: '/notes', payload: { id: nextId++, body: 'x' } })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { statusCode: 503, code: 'SCALEOUT_ERR_DB_READ_ONLY', error: 'Service Unavailable', message: 'The primary refused the write because it is read-only (demoted or in recovery); nothing was written' })
  // A statement that writes nothing succeeds, but the position cannot be read on a standby: the
  // token then takes the largest position, and this client reads on the primary.
  const select = await app.inject({ method: 'POST', url: '/select' })
  t.same(select.json(), { one: 1 })
  t.equal((select.headers['x-scaleout-db-token'] as string).split('.')[1], 'ffffffffffffffff')
  const sneaky = await app.inject({ method: 'POST', url: '/sneaky' })
  t.equal(sneaky.statusCode, 500)
  t.equal(sneaky.json().code, 'SCALEOUT_ERR_DB_WRITE_IN_READ')
  await waitUntil('a few sampler rounds', () => sink.lines.length > 0)
  t.same(sink.messages().filter((m) => m.startsWith('postgres: ')), ['postgres: the primary is in recovery (a standby): writes will fail with SCALEOUT_ERR_DB_READ_ONLY'])
})

t.test('cookie options: off, custom name, Secure behind https', async (t) => {
  const headerOnly = await instance(t, { cookie: false })
  const a = await headerOnly.inject({ method: 'POST', url: '/notes', payload: { id: nextId++, body: 'x' } })
  t.type(a.headers['x-scaleout-db-token'], 'string')
  t.equal(a.headers['set-cookie'], undefined)
  const custom = await build(t, options({ cookie: { name: 'dbt', path: '/app', domain: 'example.com', secure: 'auto', sameSite: 'strict' } }), { trustProxy: true })
  const b = await custom.inject({ method: 'POST', url: '/notes', payload: { id: nextId++, body: 'y' }, headers: { 'x-forwarded-proto': 'https' } })
  t.match(b.headers['set-cookie'], /^dbt=[^;]+; Max-Age=60; Domain=example\.com; Path=\/app; Expires=[^;]+ GMT; HttpOnly; Secure; SameSite=Strict$/)
})

t.test('bad tokens are ignored: malformed, huge, forged, signed with an unknown secret: no 5xx, no wait', async (t) => {
  const app = await instance(t, { secret: [SECRET, OLD_SECRET] })
  const id = nextId++
  await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [id, 'x'])
  for (const r of cluster.replicas) await r.waitCaughtUp(cluster.primary)
  const now = Date.now()
  const far = 0xffffffffffffn
  const valid = signToken(far, now, [SECRET])
  const forged = valid.slice(0, valid.lastIndexOf('.') + 1) + 'A'.repeat(43)
  const inflated = valid.replace(/^1\.[0-9a-f]+/, '1.ffffffffffffffff')
  const bad = [
    'garbage', '', '1.', '1.zz.1.' + 'A'.repeat(43), 'x'.repeat(8000), forged, inflated,
    signToken(far, now, ['another-secret-0123456789-0123456789']),
    signToken(far, now + 3_600_000, ['another-secret-0123456789-0123456789']),
    valid + '.extra', valid.toUpperCase(), `${valid}\u00e9`
  ]
  const before = app.db.stats().routes
  for (const token of bad) {
    for (const headers of [{ 'x-scaleout-db-token': token }, { cookie: `scaleout-db-token=${token}` }] as Array<Record<string, string>>) {
      const res = await app.inject({ url: `/notes/${id}`, headers })
      t.equal(res.statusCode, 200, JSON.stringify(token).slice(0, 40))
      t.equal(route(res), 'replica;reason=replica', 'treated as no token: no wait, no probe')
    }
  }
  const after = app.db.stats().routes
  t.equal(after.replica - before.replica, bad.length * 2)
  t.equal(after.caughtUpWait + after.tokenAhead, before.caughtUpWait + before.tokenAhead)
  // An older secret still verifies (rotation); the next write signs with the first.
  const rotated = await app.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': signToken(far, now, [OLD_SECRET]) } })
  t.equal(route(rotated), 'primary;reason=tokenAhead')
})

t.test('regression: a token signed by an instance whose clock is ahead by more than the skew allowance still sends that client\'s reads where its write is', async (t) => {
  const app = await instance(t)
  await delay(60_000)
  t.teardown(async () => { await delay(0) })
  const id = nextId++
  await cluster.primary.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [id, 'written on a fast instance'])
  const lsn = parseLsn(await cluster.primary.lsn()) as bigint
  // Instance A's clock runs a minute ahead of this one's.
  const token = signToken(lsn, Date.now() + 60_000, [SECRET])
  for (const headers of [{ 'x-scaleout-db-token': token }, { cookie: `scaleout-db-token=${token}` }] as Array<Record<string, string>>) {
    const res = await app.inject({ url: `/notes/${id}`, headers })
    t.same([res.statusCode, res.json(), route(res)], [200, { body: 'written on a fast instance' }, 'primary;reason=tokenAhead'], 'not read as no token on a replica 60 s behind')
  }
  const none = await app.inject({ url: `/notes/${id}` })
  t.same([none.json(), route(none)], [{ body: null }, 'replica;reason=replica'], 'without the token: the replica, without the write')
})

t.test('regression: a token signed by an instance whose clock is behind by more than the skew allowance is not taken for an impossible one: that client still reads its write', async (t) => {
  // Sampled once, at registration: every later write is ahead of what this instance saw of the primary.
  const app = await instance(t, { sampleInterval: '1h' })
  await delay(60_000)
  t.teardown(async () => { await delay(0) })
  const id = nextId++
  await cluster.primary.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [id, 'written on a slow instance'])
  const lsn = parseLsn(await cluster.primary.lsn()) as bigint
  // Instance A's clock runs a minute behind this one's: by its date, the token predates the last sample.
  const token = signToken(lsn, Date.now() - 60_000, [SECRET])
  const res = await app.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': token } })
  t.same([res.statusCode, res.json(), route(res)], [200, { body: 'written on a slow instance' }, 'primary;reason=tokenAhead'], 'not clamped to the primary position sampled before the write')
})

t.test('a signed token ahead of the primary is clamped to the primary position once the sampler has seen the primary after the token was first read, and past its date', async (t) => {
  const app = await instance(t, { sampleInterval: 50 })
  const id = nextId++
  await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [id, 'x'])
  for (const r of cluster.replicas) await r.waitCaughtUp(cluster.primary)
  const lsn = parseLsn(await cluster.primary.lsn()) as bigint
  // As if the secret leaked: a validly signed token 1 GB ahead of the primary.
  const fresh = signToken(lsn + 1_000_000_000n, Date.now(), [SECRET])
  const res = await app.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': fresh } })
  t.equal(res.statusCode, 200)
  t.equal(route(res), 'primary;reason=tokenAhead', 'a fresh token may be real: that client reads on the primary')
  const old = signToken(lsn + 1_000_000_000n, Date.now() - 10_000, [SECRET])
  const first = await app.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': old } })
  t.equal(route(first), 'primary;reason=tokenAhead', 'until the primary is sampled after this instance first read it, even an old token may be real')
  await waitUntil('the replicas to be sampled at the primary position', () => app.db.stats().replicas.every((r) => r.state === 'up' && r.lsn !== null && (parseLsn(r.lsn) as bigint) >= lsn))
  let clamped = ''
  await waitUntil('a sample of the primary after the token was first read', async () => {
    clamped = route(await app.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': old } })) as string
    return clamped !== 'primary;reason=tokenAhead'
  }, 30_000)
  t.equal(clamped, 'replica;reason=replica', 'never trusted beyond the primary position')
})

t.test('round trips: the token costs one on request.db.write, none on transactions, none on reads the instance knows are caught up', async (t) => {
  const counts = { primary: 0, replica: 0 }
  // Pools of our own whose clients count the statements they send: the plugin accepts any pg.Pool.
  const counting = (url: string, key: keyof typeof counts): pg.Pool => {
    class Counted extends pg.Client {}
    const query = pg.Client.prototype.query
    Object.defineProperty(Counted.prototype, 'query', {
      value: function (this: pg.Client, ...args: unknown[]) {
        counts[key]++
        return (query as (...a: unknown[]) => unknown).apply(this, args)
      }
    })
    return new pg.Pool({ connectionString: url, Client: Counted })
  }
  const primaryPool = counting(cluster.primary.url, 'primary')
  const replicaPool = counting(cluster.replicas[0]?.url as string, 'replica')
  t.teardown(async () => { await primaryPool.end(); await replicaPool.end() })
  const app = await build(t, { primary: primaryPool, replicas: [replicaPool], secret: SECRET, sampleInterval: '1h', replicaWait: '10s', timeout: '21s' }, {}, (app) => {
    app.post('/tx', async (request) => {
      await request.db.transaction(async (tx) => { await tx.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, 'tx']) })
      return {}
    })
  })
  const delta = async (fn: () => Promise<unknown>): Promise<[number, number]> => {
    const before = { ...counts }
    await fn()
    return [counts.primary - before.primary, counts.replica - before.replica]
  }
  const id = nextId++
  let token = ''
  t.same(await delta(async () => {
    token = (await app.inject({ method: 'POST', url: '/notes', payload: { id, body: 'counted' } })).headers['x-scaleout-db-token'] as string
  }), [2, 0], 'request.db.write: the statement, then the position')
  t.same(await delta(async () => await app.db.write.query('SELECT 1')), [1, 0], 'fastify.db.write: no token, no extra')
  t.same(await delta(async () => await app.inject({ method: 'POST', url: '/tx' })), [3, 0], 'request.db.transaction: BEGIN, the statement, COMMIT with the position')
  t.same(await delta(async () => await app.db.transaction(async (tx) => await tx.query('SELECT 1'))), [3, 0], 'fastify.db.transaction: the same three')
  t.same(await delta(async () => await app.inject(`/notes/${id}`)), [0, 1], 'a read with no token: one statement on the replica')
  await cluster.replicas[0]?.waitCaughtUp(cluster.primary)
  t.same(await delta(async () => await app.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': token } })), [0, 2], 'a token ahead of what this instance knows: one probe of the replica, then the read')
  t.same(await delta(async () => await app.inject({ url: `/notes/${id}`, headers: { 'x-scaleout-db-token': token } })), [0, 1], 'once known: no extra')
})

t.test('writes that commit while a position read is in flight share the next one: 20 concurrent writes, 2 position reads', async (t) => {
  let inserted = 0
  let positions = 0
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => { open = resolve })
  // A client that holds the first position read until all 20 writes have committed (and asked for
  // theirs): every write after the first then waits for one read sent after its commit.
  class Gated extends pg.Client {}
  const query = pg.Client.prototype.query as (...a: unknown[]) => unknown
  Object.defineProperty(Gated.prototype, 'query', {
    value: function (this: pg.Client, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string }).text
      if (text?.includes('pg_current_wal_insert_lsn()') === true && !text.startsWith('SELECT pg_is_in_recovery')) {
        positions++
        gate.then(() => query.apply(this, args)).catch(() => {})
        return undefined
      }
      if (text?.startsWith('INSERT') === true && typeof args[2] === 'function') {
        const callback = args[2] as (...r: unknown[]) => void
        args[2] = (...r: unknown[]) => {
          callback(...r)
          if (++inserted === 20) setImmediate(open)
        }
      }
      return query.apply(this, args)
    }
  })
  const pool = new pg.Pool({ connectionString: cluster.primary.url, Client: Gated, max: 10 })
  t.teardown(async () => { await pool.end() })
  const app = await build(t, { primary: pool, replicas: cluster.replicas.map((r) => r.url), secret: SECRET, sampleInterval: '1h' })
  const ids = Array.from({ length: 20 }, () => nextId++)
  const written = await Promise.all(ids.map(async (id) => await app.inject({ method: 'POST', url: '/notes', payload: { id, body: 'shared' } })))
  t.same(written.map((r) => r.statusCode), ids.map(() => 200))
  t.equal(positions, 2, 'one read in flight when the first write committed, one for all the others')
  const lsns = written.map((r) => BigInt('0x' + (r.headers['x-scaleout-db-token'] as string).split('.')[1]))
  t.ok(new Set(lsns).size <= 2, 'two reads, two positions at most')
  const final = parseLsn(await cluster.primary.lsn()) as bigint
  t.ok(lsns.every((lsn) => lsn <= final), 'positions the primary has reached')
  // Each token is honest: a replica that has replayed it has the write.
  for (const r of cluster.replicas) await r.waitCaughtUp(cluster.primary)
  for (const [i, res] of written.entries()) {
    const read = await app.inject({ url: `/notes/${ids[i] as number}`, headers: { 'x-scaleout-db-token': res.headers['x-scaleout-db-token'] as string } })
    t.same(read.json(), { body: 'shared' })
  }
})

t.test('a position read that cannot answer by the write\'s deadline gives the largest position', async (t) => {
  class Stuck extends pg.Client {}
  const query = pg.Client.prototype.query as (...a: unknown[]) => unknown
  Object.defineProperty(Stuck.prototype, 'query', {
    value: function (this: pg.Client, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string }).text
      // The position read never gets sent: its own timeout destroys the client after the write's deadline.
      if (text === 'SELECT pg_current_wal_insert_lsn()::text AS lsn') return undefined
      return query.apply(this, args)
    }
  })
  const pool = new pg.Pool({ connectionString: cluster.primary.url, Client: Stuck, max: 2 })
  t.teardown(async () => { await pool.end() })
  const app = await build(t, { primary: pool, replicas: cluster.replicas.map((r) => r.url), secret: SECRET, sampleInterval: '1h', timeout: 300 })
  const res = await app.inject({ method: 'POST', url: '/notes', payload: { id: nextId++, body: 'stuck' } })
  t.equal(res.statusCode, 200)
  t.equal((res.headers['x-scaleout-db-token'] as string).split('.')[1], 'ffffffffffffffff')
})

t.test('weights 3:1 over 10,000 reads: observed share within 2 percentage points', async (t) => {
  const app = await build(t, {
    primary: cluster.primary.url,
    replicas: [{ connectionString: cluster.replicas[0]?.url, weight: 3 }, { connectionString: cluster.replicas[1]?.url, weight: 1 }],
    secret: SECRET
  })
  for (let batch = 0; batch < 1000; batch++) {
    await Promise.all(Array.from({ length: 10 }, async () => await app.db.read.query('SELECT 1')))
  }
  const stats = app.db.stats()
  const [first, second] = stats.replicas.map((r) => r.reads) as [number, number]
  t.equal(first + second + stats.primary.reads, 10_000)
  t.ok(first + second >= 9_900, `reads on replicas: ${first + second}`)
  t.ok(Math.abs(first / (first + second) - 0.75) <= 0.02, `weight-3 replica share: ${(100 * first / (first + second)).toFixed(2)}%`)
  t.same(stats.replicas.map((r) => [r.name, r.weight, r.state]), [['replica-1', 3, 'up'], ['replica-2', 1, 'up']])
})

t.test('regression: a write that fails after part of it committed (a COMMIT in its text, a procedure that commits and then raises) hands out a token on its error response, and that client reads its write', async (t) => {
  await cluster.primary.query(`CREATE OR REPLACE PROCEDURE commit_then_raise (i bigint) LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO notes (id, body) VALUES (i, 'procedure'); COMMIT; RAISE EXCEPTION 'after the commit'; END $$`)
  const app = await build(t, options(), {}, (app) => {
    app.post('/batch', async (request) => {
      const { id } = request.body as { id: number }
      await request.db.write.query(`BEGIN; INSERT INTO notes (id, body) VALUES (${id}, 'batch'); COMMIT; SELECT 1 / 0`)
      return {}
    })
    app.post('/procedure', async (request) => {
      await request.db.write.query('CALL commit_then_raise($1)', [(request.body as { id: number }).id])
      return {}
    })
  })
  await delay(3000)
  t.teardown(async () => { await delay(0) })
  for (const [url, body, message] of [['/batch', 'batch', 'division by zero'], ['/procedure', 'procedure', 'after the commit']] as const) {
    const id = nextId++
    const res = await app.inject({ method: 'POST', url, payload: { id } })
    t.same([res.statusCode, res.json().message], [500, message], `${url}: the statement's own error`)
    const token = res.headers['x-scaleout-db-token'] as string
    t.match(token, /^1\.[0-9a-f]+\./, `${url}: the error response carries the token`)
    t.equal(tokenCookie(res), `scaleout-db-token=${token}`, `${url}: and its cookie`)
    const read = await app.inject({ url: `/notes/${id}`, headers: { cookie: tokenCookie(res) as string } })
    t.same([read.json(), route(read)], [{ body }, 'primary;reason=tokenAhead'], `${url}: the committed row, from the primary: the replicas are 3 s behind`)
  }
})
