import { connect, createServer, type Server, type Socket } from 'node:net'
import t from 'tap'
import { logSink } from '../helpers/fixtures.js'
import { PostgresCluster, type PostgresServer } from '../helpers/postgres.js'
import { sleep, waitUntil } from '../helpers/ports.js'
import { parseLsn } from '../../plugins/postgres/src/wal.js'
import { build, NOTES, SECRET, tokenCookie } from './setup.js'

// Another server takes the primary's place (a failover, a restore): its position may lie behind the
// old one's, and a standby of the old one may be on a history the new one never wrote. One cluster
// per test: each ends with its primary killed.

/** A TCP proxy whose target can be switched; the connections it holds are dropped when it is. */
class SwitchProxy {
  private readonly sockets = new Set<Socket>()
  private target: number
  private readonly server: Server

  private constructor (target: number) {
    this.target = target
    this.server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1')
      this.sockets.add(client).add(upstream)
      client.pipe(upstream).pipe(client)
      const end = (): void => {
        client.destroy()
        upstream.destroy()
        this.sockets.delete(client)
        this.sockets.delete(upstream)
      }
      client.on('error', end).on('close', end)
      upstream.on('error', end).on('close', end)
    })
  }

  static async start (target: number): Promise<SwitchProxy> {
    const proxy = new SwitchProxy(target)
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve))
    return proxy
  }

  get port (): number {
    return (this.server.address() as { port: number }).port
  }

  switchTo (target: number): void {
    this.target = target
    for (const s of this.sockets) s.destroy()
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => this.server.close(() => { resolve() }))
  }
}

/** A server's position as a number. */
async function position (server: PostgresServer): Promise<bigint> {
  return parseLsn(await server.lsn()) as bigint
}

/** Moves `primary`'s position to the next 16 MB WAL segment, at the cost of one small write. */
async function nextSegment (primary: PostgresServer): Promise<void> {
  await primary.query('CREATE TABLE IF NOT EXISTS segment_marks (at timestamptz)')
  await primary.query('INSERT INTO segment_marks VALUES (now())')
  await primary.query('SELECT pg_switch_wal()')
}

/** Stops `replica` receiving WAL: what a partition or a slow link does before a failover. */
async function cutOff (replica: PostgresServer): Promise<void> {
  await replica.query("ALTER SYSTEM SET primary_conninfo = ''")
  await replica.query('SELECT pg_reload_conf()')
  await waitUntil('its WAL receiver to stop', async () => (await replica.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_wal_receiver')).rows[0]?.n === 0)
}

async function notesCluster (replicas: number): Promise<PostgresCluster> {
  const cluster = await PostgresCluster.start(replicas)
  await cluster.primary.query(NOTES)
  await cluster.primary.query("INSERT INTO notes (id, body) VALUES (1, 'one')")
  for (const r of cluster.replicas) await r.waitCaughtUp(cluster.primary)
  return cluster
}

t.test('a standby left on the old history after a failover (ahead of the promoted one) leaves rotation, and stays out once the new primary passes it', async (t) => {
  const cluster = await notesCluster(2)
  t.teardown(async () => { await cluster.stop() })
  const [a, r1, r2] = [cluster.primary, cluster.replicas[0] as PostgresServer, cluster.replicas[1] as PostgresServer]
  await cutOff(r1)
  // WAL that only R2 receives: R1, promoted, forks before it, and R2 can never follow R1.
  await a.query("CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 40000) g")
  await r2.waitCaughtUp(a)
  await a.kill()
  await r1.query('SELECT pg_promote(true, 60)')

  const logs = logSink('info')
  const app = await build(t, { primary: r1.url, replicas: [r2.url], secret: SECRET, routeHeader: true, sampleInterval: 100, maxLag: 1000 }, { logger: logs.logger })
  t.equal(app.db.stats().replicas[0]?.state, 'diverged', 'out from the first round on')
  t.same(logs.lines.filter((l) => String(l.msg).startsWith('postgres: replica')).map((l) => [l.msg, l.host]), [['postgres: replica on another history than the primary (it replayed past the primary\'s position): out of rotation until its position moves', 'replica-1']], 'logged once')

  // Rounds that find it ahead again change nothing, and log nothing more.
  await sleep(500)
  t.equal(app.db.stats().replicas[0]?.state, 'diverged')
  t.equal(logs.lines.filter((l) => String(l.msg).startsWith('postgres: replica')).length, 1)

  const post = await app.inject({ method: 'POST', url: '/notes', payload: { id: 2, body: 'two' } })
  t.equal(post.statusCode, 200)
  const read = await app.inject({ url: '/notes/2', headers: { cookie: tokenCookie(post) as string } })
  t.same([read.json(), read.headers['x-scaleout-db-route']], [{ body: 'two' }, 'primary;reason=quarantined'], 'the client reads its own write')

  // The new primary writes past R2's position: R2, stuck, would now look caught up.
  const stuck = await position(r2)
  while (await position(r1) <= stuck) await nextSegment(r1)
  const seen = logs.lines.length
  await sleep(1000)
  t.equal(await position(r2), stuck, 'R2 replays nothing more')
  t.equal(app.db.stats().replicas[0]?.state, 'diverged', 'still out after ten more rounds')
  t.same(logs.lines.slice(seen).filter((l) => String(l.msg).startsWith('postgres: replica')), [], 'nothing more logged of it')
  const again = await app.inject({ url: '/notes/1' })
  t.equal(again.headers['x-scaleout-db-route'], 'primary;reason=quarantined')
})

t.test('a new primary behind the old one\'s position: its caught-up replica is in rotation again, and the change is logged once', async (t) => {
  const cluster = await notesCluster(1)
  const started: PostgresServer[] = []
  t.teardown(async () => {
    for (const server of started) await server.stop()
    await cluster.stop()
  })
  const [a, r1] = [cluster.primary, cluster.replica]
  const primaryProxy = await SwitchProxy.start(a.port)
  const replicaProxy = await SwitchProxy.start(r1.port)
  t.teardown(async () => {
    await primaryProxy.close()
    await replicaProxy.close()
  })
  const url = (port: number): string => a.url.replace(`:${a.port}/`, `:${port}/`)
  const logs = logSink('info')
  const app = await build(t, { primary: url(primaryProxy.port), replicas: [url(replicaProxy.port)], secret: SECRET, routeHeader: true, sampleInterval: 100, timeout: 500, maxLag: 1000 }, { logger: logs.logger })
  t.equal(app.db.stats().replicas[0]?.state, 'up')

  // WAL the promoted replica never gets (lost at the failover, as asynchronous replication loses it);
  // segment switches move the old primary 16 MB further at little cost.
  await cutOff(r1)
  const from = await position(a)
  for (let i = 0; i < 6; i++) await nextSegment(a)
  // The sampler takes the primary's position back to its last record's end, in the sixth segment on.
  const ahead = from + 5n * 16n * 1024n * 1024n
  await waitUntil('the sampler to see the old primary there', () => (parseLsn(app.db.stats().primary.lsn) ?? 0n) >= ahead)

  await a.kill()
  await r1.query('SELECT pg_promote(true, 60)')
  const clone = await r1.startReplica()
  started.push(clone)
  await clone.waitCaughtUp(r1)
  primaryProxy.switchTo(r1.port)
  replicaProxy.switchTo(clone.port)

  await waitUntil('the replica of the new primary in rotation', () => app.db.stats().replicas[0]?.state === 'up', 15_000)
  const stats = app.db.stats()
  t.ok((parseLsn(stats.primary.lsn) as bigint) < ahead, 'the primary\'s position is the new primary\'s, behind the old one\'s')
  t.equal(stats.replicas[0]?.lagBytes, 0)
  const read = await app.inject('/notes/1')
  t.equal(read.headers['x-scaleout-db-route'], 'replica;reason=replica', 'tokenless reads use the replica again')
  t.equal(logs.lines.filter((l) => l.msg === 'postgres: the primary\'s position went back: another server took its place').length, 1)
})
