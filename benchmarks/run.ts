// npm run bench [-- <scenario> ...] [--duration 3] [--rounds 5] [--connections 50] [--only <text>,<text>] [--rate <req/s>]
// Each variant's server runs in its own process; autocannon drives it from this one. Variants are
// measured in interleaved rounds, in an order that puts every variant in every slot and after every
// other variant equally often (order.ts), so drift on a shared machine and what one measurement
// leaves behind hit all of them alike; each figure is the median of its rounds. `--only` keeps the variants
// whose names contain one of the texts (and the baseline), and then writes no results/. Each round
// also reads what Redis did for it, per request (redis-cost.ts): the commands the clients sent, Redis's
// execution time (INFO commandstats usec, a script or EXEC counted once with what runs inside it), and
// the redis-server process's CPU (INFO cpu, network I/O included). With `--rate`, every row is driven at
// that many requests a second instead of as fast as it goes, and each round reads the server process's
// CPU (server-cpu.ts): what each row's server spends on a request, which at full speed is lost in the
// round-to-round noise. Those results go to results/<scenario>@<rate>rps.json.
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { RedisServer, waitUntil } from '../test/helpers/index.js'
import { startServerProcess, stopServerProcess } from './server-process.js'
import { formatTable, median } from './stats.js'
import { collectGarbage, roundOrder } from './order.js'
import { RedisMeter } from './redis-cost.js'
import { cpuTimes, stealLine } from './host-steal.js'
import { processCpuUs } from './server-cpu.js'
import type { CustomScenario, Scenario, Variant, VariantResult } from './types.js'

const here = import.meta.dirname
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '1' },
    only: { type: 'string' },
    rate: { type: 'string' }
  }
})
const duration = Number(values.duration)
const rounds = Number(values.rounds)
const connections = Number(values.connections)
const warmup = Number(values.warmup)
const only = values.only?.split(',').map((text) => text.trim()).filter((text) => text !== '')
const rate = values.rate === undefined ? undefined : Number(values.rate)
if (rate !== undefined && !(rate > 0)) throw new Error(`--rate must be a number of requests per second above 0, not ${String(values.rate)}`)

/** Requests driven under MONITOR per variant, before its rounds. */
const CALIBRATION_REQUESTS = 2000

interface Running { variant: Variant, child: ChildProcess, url: string, headers: Record<string, string> | Array<Record<string, string>> }

async function startServer (variant: Variant, redisUrl: string): Promise<Running> {
  const started = await startServerProcess(variant.name, variant.server, variant.options ?? {}, { REDIS_URL: redisUrl }, async (url) => (await variant.prepare?.(url)) ?? {})
  return { variant, ...started }
}

async function stopServer (running: Running): Promise<void> {
  await stopServerProcess(running.child)
}

async function drive (running: Running, seconds: number, amount?: number, overallRate?: number): Promise<autocannon.Result> {
  const { request } = running.variant
  const { headers } = running
  const perConnection = Array.isArray(headers) ? headers : null
  let next = 0
  return await autocannon({
    url: running.url + request.path,
    method: request.method ?? 'GET',
    headers: { ...request.headers, ...(Array.isArray(headers) ? {} : headers) },
    ...(perConnection !== null
      ? { setupClient: (client: autocannon.Client) => { client.setHeaders({ ...request.headers, ...perConnection[next++ % perConnection.length] }) } }
      : {}),
    ...(request.body !== undefined ? { body: request.body } : {}),
    connections,
    ...(overallRate === undefined ? {} : { overallRate }),
    ...(amount === undefined ? { duration: seconds } : { amount })
  })
}

interface Sample { result: autocannon.Result, commands: number, usec: number, processUs: number, serverUs: number | null }

/** One measured round of a variant, with what Redis (and, with --rate, its server) did for it per request. */
async function measure (running: Running, meter: RedisMeter): Promise<Sample> {
  await meter.start()
  const serverBefore = processCpuUs(running.child.pid)
  const result = await drive(running, duration, undefined, rate)
  const serverAfter = processCpuUs(running.child.pid)
  const cost = await meter.read()
  const requests = Math.max(1, result.requests.total)
  const serverUs = rate === undefined || serverBefore === null || serverAfter === null ? null : (serverAfter - serverBefore) / requests
  return { result, commands: cost.commands / requests, usec: cost.usec / requests, processUs: cost.processUs / requests, serverUs }
}

async function runScenario (scenario: Scenario, redisUrl: string): Promise<VariantResult[]> {
  const servers: Running[] = []
  const admin = new Redis(redisUrl)
  const variants = only === undefined ? scenario.variants : scenario.variants.filter((v) => v.name === scenario.baseline || only.some((text) => v.name.includes(text)))
  try {
    for (const variant of variants) servers.push(await startServer(variant, redisUrl))
    if (warmup > 0) for (const s of servers) await drive(s, warmup)
    // Which share of each command runs inside scripts or MULTIs, per variant (see redis-cost.ts).
    const meters = new Map<string, RedisMeter>()
    for (const s of servers) {
      const meter = new RedisMeter(admin)
      await meter.calibrate(async () => await drive(s, 0, CALIBRATION_REQUESTS))
      meters.set(s.variant.name, meter)
    }
    const samples = new Map<string, Sample[]>(servers.map((s) => [s.variant.name, []]))
    for (let round = 0; round < rounds; round++) {
      for (const i of roundOrder(servers.length, round)) {
        const s = servers[i] as Running
        collectGarbage()
        samples.get(s.variant.name)?.push(await measure(s, meters.get(s.variant.name) as RedisMeter))
      }
    }
    const results = servers.map((s): Omit<VariantResult, 'ratio'> => {
      const measured = samples.get(s.variant.name) ?? []
      const runs = measured.map((m) => m.result)
      const serverUs = measured.map((m) => m.serverUs).filter((us) => us !== null)
      return {
        ...(serverUs.length === measured.length && serverUs.length > 0 ? { serverUsPerRequest: median(serverUs), roundsServerUs: serverUs } : {}),
        redisCommandsPerRequest: median(measured.map((m) => m.commands)),
        redisUsPerRequest: median(measured.map((m) => m.usec)),
        redisProcessUsPerRequest: median(measured.map((m) => m.processUs)),
        name: s.variant.name,
        rounds: runs.length,
        requestsPerSec: median(runs.map((r) => r.requests.average)),
        roundsPerSec: runs.map((r) => Math.round(r.requests.average)),
        p50: median(runs.map((r) => r.latency.p50)),
        p99: median(runs.map((r) => r.latency.p99)),
        errors: runs.reduce((sum, r) => sum + r.errors + r.timeouts, 0),
        non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0)
      }
    })
    const base = results.find((r) => r.name === scenario.baseline)
    if (base === undefined) throw new Error(`${scenario.name}: baseline variant "${scenario.baseline}" is missing`)
    return results.map((r) => ({ ...r, ratio: r.requestsPerSec / base.requestsPerSec }))
  } finally {
    admin.disconnect()
    await Promise.all(servers.map(stopServer))
  }
}

/** A replica of `primary`, once in sync with it. */
async function startReplica (primary: RedisServer): Promise<RedisServer> {
  const replica = await RedisServer.start({ args: ['--replicaof', primary.host, String(primary.port)] })
  const client = replica.client()
  try {
    await waitUntil('the replica to sync', async () => (await client.info('replication')).includes('master_link_status:up'), 15_000, 50)
  } finally {
    client.disconnect()
  }
  return replica
}

async function loadScenarios (names: string[]): Promise<Array<Scenario | CustomScenario>> {
  const dir = join(here, 'scenarios')
  const available = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort()
  const chosen = names.length === 0 ? available : names
  const unknown = chosen.filter((n) => !available.includes(n))
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; available: ${available.join(', ')}`)
  return await Promise.all(chosen.map(async (n) => (await import(pathToFileURL(join(dir, `${n}.ts`)).href) as { default: Scenario | CustomScenario }).default))
}

const scenarios = await loadScenarios(positionals)
const redis = await RedisServer.start()
const resultsDir = resolve(here, 'results')
mkdirSync(resultsDir, { recursive: true })
console.log(`scaleout benchmarks: node ${process.version}, ${connections} connections, ${rounds} rounds of ${duration}s per variant, medians${rate === undefined ? '' : `, every row driven at ${rate} req/s`}${only === undefined ? '' : `, only variants matching ${only.join(' | ')}`}\n`)
try {
  for (const scenario of scenarios) {
    await redis.flushAll()
    const cpuBefore = cpuTimes()
    let results: unknown
    if ('run' in scenario) {
      if (rate !== undefined) throw new Error(`${scenario.name}: --rate applies to the HTTP scenarios only`)
      const custom = await scenario.run({ redisUrl: redis.url, duration, rounds, connections })
      console.log(`## ${scenario.name}: ${scenario.description}\n${custom.table}\n${stealLine(cpuBefore)}\n`)
      results = custom.results
    } else {
      const replica = scenario.replica === true ? await startReplica(redis) : undefined
      try {
        const measured = await runScenario(scenario, redis.url)
        console.log(formatTable(scenario, measured) + '\n' + stealLine(cpuBefore) + '\n')
        results = measured
      } finally {
        await replica?.stop()
      }
    }
    // A subset of the rows is a quick check, not the scenario's record.
    if (only !== undefined) continue
    writeFileSync(join(resultsDir, `${scenario.name}${rate === undefined ? '' : `@${rate}rps`}.json`), JSON.stringify({
      scenario: scenario.name,
      description: scenario.description,
      date: new Date().toISOString(),
      node: process.version,
      settings: { connections, rounds, duration, warmup, ...(rate === undefined ? {} : { rate }) },
      results
    }, null, 2) + '\n')
  }
} finally {
  await redis.stop()
}
