import { Redis } from 'ioredis'
import { startInstance, stopInstance, measure, Receivers, type Instance, type Measure } from '../broadcast-driver.js'
import { RedisMeter } from '../redis-cost.js'
import { commandsCell, median, perCore } from '../stats.js'
import { collectGarbage, roundOrder } from '../order.js'
import type { CustomScenario } from '../types.js'

// Three instances on this machine, one publisher (instance A); receivers on instance B, another
// process than the publisher. Phase 1: a few receivers, 1,000 and 5,000 messages/s (the target is
// p99 <= 5 ms at 5,000/s). Phase 2: 1,000 WebSocket clients on B and C, a modest rate, Redis
// connections counted. Bare Fastify + @fastify/websocket (one instance, no Redis) is the floor.

// `tag` is the Redis connection name the variant's servers set, to count their connections.
interface Variant { name: string, server: string, instances: number, tag: string }
const VARIANTS: Variant[] = [
  { name: 'bare fastify + @fastify/websocket (1 instance, no Redis)', server: 'servers/broadcast-bare.ts', instances: 1, tag: 'bench-bare' },
  { name: '@scaleout/broadcast (3 instances)', server: 'servers/broadcast-scaleout.ts', instances: 3, tag: 'bench-scaleout' },
  { name: 'naive: 1 Redis subscriber per socket (3 instances)', server: 'servers/broadcast-naive.ts', instances: 3, tag: 'bench-naive' }
]
const RATES = [1000, 5000]
const FEW = 2
const MANY = 1000
const MANY_RATE = 20
const TARGET = { variant: '@scaleout/broadcast (3 instances)', rate: 5000, p99: 5 }

// Redis's cost is per message published (redis-cost.ts): every variant's instances stay up through
// the run, so an idle variant's background commands (heartbeats) count in too, a small share.
interface Cost { commands: number, usec: number }
interface Row { variant: string, phase: string, clients: number, rate: number, connections: number | null, runs: Measure[], costs: Cost[] }

/** One measured run, with what Redis did for it per message published. */
async function metered (meter: RedisMeter, run: () => Promise<Measure>): Promise<[Measure, Cost]> {
  await meter.start()
  const m = await run()
  const cost = await meter.read()
  const published = Math.max(1, m.published)
  return [m, { commands: cost.commands / published, usec: cost.usec / published }]
}

function summarise (row: Row): Record<string, number | string | null> {
  const lost = row.runs.reduce((sum, r) => sum + r.expected - r.received, 0)
  return {
    variant: row.variant,
    clients: row.clients,
    rate: row.rate,
    deliveredPerSec: Math.round(median(row.runs.map((r) => r.deliveredPerSec))),
    p50: median(row.runs.map((r) => r.p50)),
    p99: median(row.runs.map((r) => r.p99)),
    lost,
    remoteFailures: row.runs.reduce((sum, r) => sum + r.remoteFailures, 0),
    connections: row.connections,
    redisCommandsPerMessage: median(row.costs.map((c) => c.commands)),
    redisUsPerMessage: median(row.costs.map((c) => c.usec))
  }
}

function table (rows: Array<Record<string, number | string | null>>): string {
  const head = `${'variant'.padEnd(56)} ${'clients'.padStart(7)} ${'msg/s'.padStart(6)} ${'delivered/s'.padStart(11)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'p99 x bare'.padStart(10)} ${'lost'.padStart(5)} ${'redis conns'.padStart(11)} ${'redis cmd/msg'.padStart(13)} ${'redis µs/msg'.padStart(12)} ${'msg/s per redis core'.padStart(20)}`
  const lines = [head, '-'.repeat(head.length)]
  for (const r of rows) {
    const bare = rows.find((b) => String(b.variant).startsWith('bare') && b.clients === r.clients && b.rate === r.rate)
    const ratio = (r.p99 as number) / (bare?.p99 as number)
    lines.push(`${String(r.variant).padEnd(56)} ${String(r.clients).padStart(7)} ${String(r.rate).padStart(6)} ${String(r.deliveredPerSec).padStart(11)} ${(r.p50 as number).toFixed(2).padStart(7)} ${(r.p99 as number).toFixed(2).padStart(7)} ${ratio.toFixed(1).padStart(10)} ${String(r.lost).padStart(5)} ${String(r.connections ?? '-').padStart(11)} ${commandsCell(r.redisCommandsPerMessage as number).padStart(13)} ${(r.redisCommandsPerMessage as number) < 0.005 ? '-'.padStart(12) : (r.redisUsPerMessage as number).toFixed(2).padStart(12)} ${((r.redisCommandsPerMessage as number) < 0.005 ? '-' : perCore(r.redisUsPerMessage as number)).padStart(20)}`)
  }
  return lines.join('\n')
}

/** Redis connections named `tag`, i.e. held by the instances of one variant. */
async function countConnections (admin: Redis, tag: string): Promise<number> {
  return (await admin.client('LIST') as string).split('\n').filter((line) => line.includes(` name=${tag} `)).length
}

const scenario: CustomScenario = {
  name: 'broadcast-fanout',
  description: 'publish on instance A, delivery latency on WebSocket clients of instance B (and C); @scaleout/broadcast vs one Redis subscriber per socket',
  run: async ({ redisUrl, duration, rounds }) => {
    const admin = new Redis(redisUrl)
    const started = new Map<Variant, Instance[]>()
    const rows: Row[] = []
    try {
      for (const variant of VARIANTS) {
        const instances: Instance[] = []
        for (let i = 0; i < variant.instances; i++) instances.push(await startInstance(variant.server, redisUrl, variant.tag))
        started.set(variant, instances)
      }

      // Phase 1: rate and latency with a few receivers on another instance than the publisher.
      const few = new Map<Variant, Receivers>()
      for (const [variant, instances] of started) {
        const receivers = new Receivers()
        await receivers.connect((instances[1] ?? instances[0] as Instance).wsUrl, FEW)
        few.set(variant, receivers)
        for (const rate of RATES) rows.push({ variant: variant.name, phase: 'rate', clients: FEW, rate, connections: null, runs: [], costs: [] })
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
      // The warm-up run doubles as the calibration of what runs inside scripts (redis-cost.ts).
      const meters = new Map<Variant, RedisMeter>()
      for (const [variant, instances] of started) {
        const meter = new RedisMeter(admin)
        await meter.calibrate(async () => await measure(instances[0] as Instance, few.get(variant) as Receivers, 500, Math.min(1, duration)))
        meters.set(variant, meter)
      }
      // Balanced order, as run.ts measures (see order.ts).
      const order = [...started]
      for (let round = 0; round < rounds; round++) {
        for (const rate of RATES) {
          for (const i of roundOrder(order.length, round)) {
            const [variant, instances] = order[i] as [Variant, Instance[]]
            collectGarbage()
            const row = rows.find((r) => r.variant === variant.name && r.rate === rate) as Row
            const [m, cost] = await metered(meters.get(variant) as RedisMeter, async () => await measure(instances[0] as Instance, few.get(variant) as Receivers, rate, duration))
            row.runs.push(m)
            row.costs.push(cost)
          }
        }
      }
      for (const receivers of few.values()) receivers.close()

      // Phase 2: 1,000 clients, one variant at a time (the naive one holds 1,000 Redis connections).
      for (const [variant, instances] of started) {
        const receivers = new Receivers()
        const targets = instances.length === 1 ? [instances[0] as Instance] : instances.slice(1)
        for (const target of targets) await receivers.connect(target.wsUrl, MANY / targets.length)
        await new Promise((resolve) => setTimeout(resolve, 1000))
        // All the variant's instances together, with the 1,000 clients connected.
        const connections = await countConnections(admin, variant.tag)
        const row: Row = { variant: variant.name, phase: 'many', clients: MANY, rate: MANY_RATE, connections, runs: [], costs: [] }
        for (let round = 0; round < rounds; round++) {
          const [m, cost] = await metered(meters.get(variant) as RedisMeter, async () => await measure(instances[0] as Instance, receivers, MANY_RATE, duration))
          row.runs.push(m)
          row.costs.push(cost)
        }
        receivers.close()
        rows.push(row)
      }
    } finally {
      await Promise.all([...started.values()].flat().map(stopInstance))
      admin.disconnect()
    }

    const results = rows.map(summarise)
    const target = results.find((r) => r.variant === TARGET.variant && r.rate === TARGET.rate && r.clients === FEW)
    const p99 = target?.p99 as number
    const lines = [
      table(results),
      `target: ${TARGET.variant} p99 <= ${TARGET.p99} ms at ${TARGET.rate} msg/s: ${p99.toFixed(2)} ms ${p99 <= TARGET.p99 ? 'met' : 'MISSED'}`
    ]
    return { table: lines.join('\n'), results }
  }
}
export default scenario
