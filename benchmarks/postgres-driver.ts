// The postgres scenarios: a private primary + streaming replica (test/helpers/postgres.ts) for the
// run, every variant a server process of its own (serve.ts) given both URLs, autocannon from here.
// Rounds interleave the variants as run.ts does; each figure is the median of its rounds. Besides
// throughput under load, each round drives every variant once more through a single connection, so
// the p50 there is a request's own latency (what the consistency token adds), not queueing.
import type { ChildProcess } from 'node:child_process'
import http from 'node:http'
import autocannon from 'autocannon'
import { PostgresCluster } from '../test/helpers/postgres.js'
import { FILL, TABLE } from './servers/postgres-common.js'
import { startServerProcess, stopServerProcess } from './server-process.js'
import { Redis } from 'ioredis'
import { RedisMeter } from './redis-cost.js'
import { commandsCell, median, targetLines } from './stats.js'
import { collectGarbage, roundOrder } from './order.js'
import type { BenchRequest, CustomContext, CustomScenario, Target } from './types.js'

export interface PgVariant {
  name: string
  server: string
  options?: Record<string, unknown>
  request: BenchRequest
  /** Headers for every measured request, e.g. a consistency token from a write made here. */
  prepare?: (baseUrl: string) => Promise<Record<string, string>>
}

export interface PgScenario {
  name: string
  description: string
  baseline: string
  variants: PgVariant[]
  targets: Target[]
}

interface Running { variant: PgVariant, child: ChildProcess, url: string, headers: Record<string, string> }

export interface PgResult {
  name: string
  rounds: number
  requestsPerSec: number
  /** Each round's req/s, in round order (for the target lines' round-by-round ratios). */
  roundsPerSec: number[]
  p50: number
  p99: number
  /** p50 through one connection: a request's own latency. */
  p50Single: number
  /** Statements sent per request, by host (medians of the rounds). */
  primaryPerRequest: number
  replicaPerRequest: number
  /** Redis commands per request, read on the run's Redis as for every scenario (none of these servers has a Redis client). */
  redisCommandsPerRequest: number
  errors: number
  non2xx: number
  ratio: number
}

async function start (variant: PgVariant, urls: { primaryUrl: string, replicaUrl: string }): Promise<Running> {
  const started = await startServerProcess(variant.name, variant.server, { ...variant.options, ...urls }, {}, async (url) => (await variant.prepare?.(url)) ?? {})
  return { variant, ...started }
}

async function stop (running: Running): Promise<void> {
  await stopServerProcess(running.child)
}

/** Statements the server sent so far, by host; NaN for a server that sends none (bare Fastify). */
async function statements (running: Running): Promise<{ primary: number, replica: number }> {
  const res = await fetch(`${running.url}/__statements`)
  return res.ok ? await res.json() as { primary: number, replica: number } : { primary: NaN, replica: NaN }
}

interface Sample { result: autocannon.Result, single: number, primary: number, replica: number, redis: number }

async function drive (running: Running, seconds: number, connections: number): Promise<autocannon.Result> {
  const { request } = running.variant
  return await autocannon({
    url: running.url + request.path,
    method: request.method ?? 'GET',
    headers: { ...request.headers, ...running.headers },
    ...(request.body !== undefined ? { body: request.body } : {}),
    connections,
    duration: seconds
  })
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

async function once1 (running: Running): Promise<number> {
  const { request } = running.variant
  const started = process.hrtime.bigint()
  await new Promise<void>((resolve, reject) => {
    const req = http.request(running.url + request.path, { method: request.method ?? 'GET', agent, headers: { ...request.headers, ...running.headers } }, (res) => {
      res.resume()
      res.on('end', () => { res.statusCode === 200 ? resolve() : reject(new Error(`${running.variant.name}: status ${String(res.statusCode)}`)) })
    })
    req.on('error', reject)
    req.end(request.body)
  })
  return Number(process.hrtime.bigint() - started) / 1e6
}

/** One request at a time through one kept-alive connection for `seconds`: the median latency in ms. */
async function sequential (running: Running, seconds: number): Promise<number> {
  const until = Date.now() + seconds * 1000
  const times: number[] = []
  while (Date.now() < until) times.push(await once1(running))
  return median(times)
}

async function sample (running: Running, seconds: number, connections: number, meter: RedisMeter): Promise<Sample> {
  const before = await statements(running)
  await meter.start()
  const result = await drive(running, seconds, connections)
  const redis = await meter.read()
  const after = await statements(running)
  const requests = Math.max(1, result.requests.total)
  const single = await sequential(running, Math.max(1, seconds / 2))
  return { result, single, primary: (after.primary - before.primary) / requests, replica: (after.replica - before.replica) / requests, redis: redis.commands / requests }
}

function summarise (name: string, runs: Sample[]): Omit<PgResult, 'ratio'> {
  return {
    name,
    rounds: runs.length,
    requestsPerSec: median(runs.map((r) => r.result.requests.average)),
    roundsPerSec: runs.map((r) => Math.round(r.result.requests.average)),
    p50: median(runs.map((r) => r.result.latency.p50)),
    p99: median(runs.map((r) => r.result.latency.p99)),
    p50Single: median(runs.map((r) => r.single)),
    primaryPerRequest: median(runs.map((r) => r.primary)),
    replicaPerRequest: median(runs.map((r) => r.replica)),
    redisCommandsPerRequest: median(runs.map((r) => r.redis)),
    errors: runs.reduce((sum, r) => sum + r.result.errors + r.result.timeouts, 0),
    non2xx: runs.reduce((sum, r) => sum + r.result.non2xx, 0)
  }
}

export function formatPgTable (scenario: PgScenario, results: PgResult[]): string {
  const w = Math.max(...results.map((r) => r.name.length), 7)
  const cols = ['req/s', 'p50 ms', 'p99 ms', '1-conn p50 ms', 'stmts/req primary', 'stmts/req replica', 'redis cmd/req', 'errors', 'x bare']
  const header = ['variant'.padEnd(w), ...cols.map((c) => c.padStart(Math.max(c.length, 7)))].join('  ')
  const lines = [header, '-'.repeat(header.length)]
  const count = (n: number): string => Number.isNaN(n) ? '-' : n.toFixed(2)
  for (const r of results) {
    const cells = [r.requestsPerSec.toFixed(0), r.p50.toFixed(2), r.p99.toFixed(2), r.p50Single.toFixed(3), count(r.primaryPerRequest), count(r.replicaPerRequest), commandsCell(r.redisCommandsPerRequest), String(r.errors + r.non2xx), r.ratio.toFixed(2)]
    lines.push([r.name.padEnd(w), ...cells.map((c, i) => c.padStart(Math.max((cols[i] as string).length, 7)))].join('  '))
  }
  return [...lines, ...targetLines(scenario.targets, results)].join('\n')
}

/** Runs one postgres scenario on its own primary + replica, stopped at the end. */
export async function runPgScenario (scenario: PgScenario, { redisUrl, duration, rounds, connections }: CustomContext): Promise<{ table: string, results: PgResult[] }> {
  const cluster = await PostgresCluster.start(1)
  const servers: Running[] = []
  const admin = new Redis(redisUrl)
  const meter = new RedisMeter(admin)
  try {
    await cluster.primary.query(TABLE)
    await cluster.primary.query(FILL)
    await cluster.primary.query('VACUUM ANALYZE bench_notes')
    await cluster.replica.waitCaughtUp(cluster.primary)
    const urls = { primaryUrl: cluster.primary.url, replicaUrl: cluster.replica.url }
    for (const variant of scenario.variants) servers.push(await start(variant, urls))
    for (const s of servers) await drive(s, 1, connections)
    const samples = new Map<string, Sample[]>(servers.map((s) => [s.variant.name, []]))
    for (let round = 0; round < rounds; round++) {
      for (const i of roundOrder(servers.length, round)) {
        const s = servers[i] as Running
        collectGarbage()
        samples.get(s.variant.name)?.push(await sample(s, duration, connections, meter))
      }
    }
    const summaries = servers.map((s) => summarise(s.variant.name, samples.get(s.variant.name) ?? []))
    const base = summaries.find((r) => r.name === scenario.baseline)
    if (base === undefined) throw new Error(`${scenario.name}: baseline variant "${scenario.baseline}" is missing`)
    const results = summaries.map((r) => ({ ...r, ratio: r.requestsPerSec / base.requestsPerSec }))
    return { table: formatPgTable(scenario, results), results }
  } finally {
    admin.disconnect()
    await Promise.all(servers.map(stop))
    await cluster.stop()
  }
}

/** A scenario file's default export for `spec`: the runner hands it its context. */
export function pgScenario (spec: PgScenario): CustomScenario {
  return { name: spec.name, description: spec.description, run: async (context) => await runPgScenario(spec, context) }
}
