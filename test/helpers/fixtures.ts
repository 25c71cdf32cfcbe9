import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { RedisServer, type RedisServerOptions } from './redis-server.js'

// The set-up nearly every test file repeats, each with its teardown attached, so a test cannot
// forget to stop what it started.

/** A redis-server of the test's own, stopped when the test ends. */
export async function redisFor (t: Test, options?: RedisServerOptions): Promise<RedisServer> {
  const server = await RedisServer.start(options)
  t.teardown(async () => await server.stop())
  return server
}

/** An ioredis client to `server` for looking at Redis state from the test, disconnected when the test ends. */
export function adminFor (t: Test, server: RedisServer): Redis {
  const admin = new Redis(server.port, server.host, { lazyConnect: false, maxRetriesPerRequest: 1 })
  t.teardown(() => admin.disconnect())
  return admin
}

/** A Fastify app closed when the test ends. */
export function appFor (t: Test, options?: FastifyServerOptions): FastifyInstance {
  const app = Fastify(options)
  t.teardown(async () => await app.close())
  return app
}

export type LogLine = Record<string, unknown> & { level: number, msg?: string }

/** A pino destination that keeps every line as an object: `Fastify({ logger: sink.logger })`. */
export interface LogSink {
  readonly lines: LogLine[]
  readonly logger: { level: string, stream: { write: (line: string) => void } }
  /** Messages of the lines at or above `level` (pino numbers: 40 warn, 50 error). */
  messages: (level?: number) => string[]
}

export function logSink (level = 'info'): LogSink {
  const lines: LogLine[] = []
  return {
    lines,
    logger: { level, stream: { write: (line: string) => { lines.push(JSON.parse(line) as LogLine) } } },
    messages: (min = 0) => lines.filter((l) => l.level >= min).map((l) => String(l.msg))
  }
}
