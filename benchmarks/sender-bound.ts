// npx tsx --conditions=@scaleout/source benchmarks/sender-bound.ts [--seconds 2] [--rounds 5]
// What bounding a call costs the client process, per way of bounding it: the same GETs sent through
// senderFor() on one connection with 64 requests in flight, measured in interleaved rounds (medians).
//   own timeout      the client's ioredis commandTimeout is within the bound: one timer per command
//   deadline queue   the client has no timeout (an app's client): the sender's one-timer queue
//   bounded()        a client of another ioredis copy: client.call() (no corking, no auto-pipelining
//                    here) + a timer and a race per call
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { senderFor, type RedisClient } from '@scaleout/core'
import { RedisServer } from '../test/helpers/index.js'
import { median } from './stats.js'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, rounds: { type: 'string', default: '5' } } })
const seconds = Number(values.seconds)
const rounds = Number(values.rounds)
const IN_FLIGHT = 64
const KEYS = 10_000

const server = await RedisServer.start()
const clients: Redis[] = []
const client = (options: Record<string, unknown>): Redis => {
  const c = new Redis({ host: server.host, port: server.port, ...options })
  clients.push(c)
  return c
}
const foreign = (c: Redis): RedisClient => new Proxy(c, { getPrototypeOf: () => Object.prototype })
const variants = [
  { name: 'own timeout (one timer per command)', send: senderFor(client({ commandTimeout: 1000 }), false, 1000) },
  { name: 'deadline queue (one timer per sender)', send: senderFor(client({}), false, 1000) },
  { name: 'client.call() + bounded() (timer + race)', send: senderFor(foreign(client({})), false, 1000) }
]

try {
  const seed = client({})
  for (let i = 0; i < KEYS; i += 1000) await seed.mset(...Array.from({ length: 1000 }, (_, j) => [`k${i + j}`, 'v'.repeat(100)]).flat())
  const samples = new Map(variants.map((v) => [v.name, { ops: [] as number[], cpu: [] as number[] }]))
  for (let round = -1; round < rounds; round++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(Math.max(round, 0) + i) % variants.length] as typeof variants[number]
      let ops = 0
      const end = Date.now() + (round < 0 ? 500 : seconds * 1000)
      const cpu = process.cpuUsage()
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (Date.now() < end) {
          await v.send.command('get', [`k${Math.floor(Math.random() * KEYS)}`])
          ops++
        }
      }))
      const used = process.cpuUsage(cpu)
      if (round < 0) continue // warm-up
      const s = samples.get(v.name) as { ops: number[], cpu: number[] }
      s.ops.push(ops / seconds)
      s.cpu.push((used.user + used.system) / ops)
    }
  }
  console.log(`senderFor bound cost: node ${process.version}, ${IN_FLIGHT} in flight, ${rounds} rounds of ${seconds}s, medians (shared machine: compare ratios)`)
  const base = median(samples.get(variants[0]?.name as string)?.ops ?? [])
  for (const v of variants) {
    const s = samples.get(v.name) as { ops: number[], cpu: number[] }
    const ops = median(s.ops)
    console.log(`${v.name.padEnd(40)} ${ops.toFixed(0).padStart(8)} GET/s  x${(ops / base).toFixed(2)}  ${median(s.cpu).toFixed(2).padStart(6)} client CPU µs/GET`)
  }
} finally {
  for (const c of clients) c.disconnect()
  await server.stop()
}
