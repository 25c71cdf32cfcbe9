import type { FastifyInstance } from 'fastify'

// What the broadcast benchmark's instance processes and its driver say to each other.

/** A server module of the broadcast benchmark: an app with a /ws route, and how to publish on it. */
export type BroadcastBench = (context: { redisUrl: string, connectionName: string }) => Promise<{
  app: FastifyInstance
  /** Publishes one message to every /ws socket of every instance; resolves false if only local. */
  publish: (message: unknown) => Promise<boolean>
}>

/** Driver -> instance: publish `rate` messages per second for `seconds`, stamped with the send time. */
export interface PublishCommand { cmd: 'publish', rate: number, seconds: number }

/** Instance -> driver, after a publish run. */
export interface PublishReport { published: number, remoteFailures: number, seconds: number }

/** Wall-clock milliseconds with sub-millisecond precision, comparable between processes of one machine. */
export function now (): number {
  return performance.timeOrigin + performance.now()
}
