import type { FastifyInstance } from 'fastify'

/** What a server module's `build` receives in the server process. */
export interface ServerContext {
  /** A private redis-server the runner started for this run. */
  redisUrl: string
  /** The variant's `options`, as given in the scenario. */
  options: Record<string, unknown>
}

/** A server module (benchmarks/servers/*.ts) exports `build`; the runner listens and measures. */
export type BuildServer = (context: ServerContext) => Promise<FastifyInstance>

export interface BenchRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD'
  path: string
  headers?: Record<string, string>
  body?: string
}

export interface Variant {
  /** The row label, e.g. "bare fastify" or "@fastify/session + connect-redis". */
  name: string
  /** The server module, relative to benchmarks/ (e.g. "servers/bare.ts"). */
  server: string
  options?: Record<string, unknown>
  request: BenchRequest
  /**
   * Runs once in the runner after the server is up and before measuring, e.g. to log in.
   * Returns headers to add to every measured request (a session cookie), or a list of header
   * sets that the connections take in turn (one session per connection).
   */
  prepare?: (baseUrl: string) => Promise<Record<string, string> | Array<Record<string, string>> | undefined>
}

/** A minimum ratio of one variant's requests/s to another's, checked and printed (never asserted in tests). */
export interface Target {
  variant: string
  against: string
  min: number
}

export interface Scenario {
  name: string
  description: string
  /** The variant every ratio is taken against: bare Fastify in the same run. */
  baseline: string
  variants: Variant[]
  targets?: Target[]
  /** Attach a replica to the runner's Redis for this scenario (removed after it). */
  replica?: boolean
}

/** What a custom scenario's `run` receives. */
export interface CustomContext {
  /** A private redis-server the runner started for this run (flushed before each scenario). */
  redisUrl: string
  duration: number
  rounds: number
  connections: number
}

/**
 * A scenario that is not "autocannon against one HTTP route" (pub/sub fan-out across instances,
 * WebSocket latency): it runs its own processes and returns the table to print and the JSON to keep.
 */
export interface CustomScenario {
  name: string
  description: string
  run: (context: CustomContext) => Promise<{ table: string, results: unknown }>
}

export interface VariantResult {
  name: string
  rounds: number
  requestsPerSec: number
  /** Each round's req/s, in round order (every variant is measured once per round). */
  roundsPerSec: number[]
  p50: number
  p99: number
  errors: number
  non2xx: number
  /** Redis commands the clients sent per request; a script counts as one (INFO commandstats). */
  redisCommandsPerRequest: number
  /** Redis execution time per request, µs (INFO commandstats usec, a script or EXEC counted once with what runs inside it). */
  redisUsPerRequest: number
  /** The redis-server process's CPU (user + system) per request, µs (INFO cpu): network I/O included. */
  redisProcessUsPerRequest: number
  /** With --rate: the server process's CPU (user + system) per request, µs, the median of the rounds. */
  serverUsPerRequest?: number
  /** With --rate: each round's, in round order. */
  roundsServerUs?: number[]
  ratio: number
}
