import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import broadcast, { type BroadcastOptions } from '@scaleout/broadcast'
import { appFor, waitUntil, type LogSink } from '../helpers/index.js'

export interface Instance {
  app: FastifyInstance
  /** ws://127.0.0.1:port/ws */
  wsUrl: string
}

/**
 * A listening Fastify with broadcast and a /ws route whose sockets join the channels of the
 * `channels` query parameter (comma separated); closed when the test ends (or earlier by the test).
 */
export async function startInstance (t: Test, options: BroadcastOptions, extra: { maxBufferedBytes?: number, log?: LogSink } = {}): Promise<Instance> {
  const app = appFor(t, { logger: extra.log === undefined ? false : extra.log.logger })
  await app.register(broadcast, { heartbeatInterval: false, ...options })
  await app.register(fastifyWebsocket)
  app.after(() => {
    app.broadcast.websocket('/ws', {
      channels: (request) => String((request.query as { channels?: string }).channels ?? '').split(',').filter((c) => c !== ''),
      ...(extra.maxBufferedBytes !== undefined ? { maxBufferedBytes: extra.maxBufferedBytes } : {}),
      onMessage: async (data) => {
        const { channel, message } = JSON.parse(data.toString()) as { channel: string, message: unknown }
        await app.broadcast.publish(channel, message)
      }
    })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address() as { port: number }
  return { app, wsUrl: `ws://127.0.0.1:${address.port}/ws` }
}

/** A ws client that queues what it receives. */
export class Client {
  readonly ws: WebSocket
  readonly received: Array<{ channel: string, data: unknown }> = []
  closeCode: number | undefined
  closeReason = ''
  readonly closed: Promise<number>

  private constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data: Buffer) => this.received.push(JSON.parse(data.toString()) as { channel: string, data: unknown }))
    this.closed = new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => {
      this.closeCode = code
      this.closeReason = reason.toString()
      resolve(code)
    }))
  }

  static async connect (wsUrl: string, channels: string[]): Promise<Client> {
    const ws = new WebSocket(`${wsUrl}?channels=${encodeURIComponent(channels.join(','))}`)
    const client = new Client(ws)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return client
  }

  /** Waits until `count` messages have arrived (messages already there count). */
  async waitFor (count: number, timeoutMs = 10_000): Promise<Array<{ channel: string, data: unknown }>> {
    await waitUntil(`${count} WebSocket messages`, () => this.received.length >= count, timeoutMs, 10)
    return this.received
  }

  /**
   * Resolves once the server answered a ping: any frame it had sent this socket before it read the
   * ping has arrived by then (one TCP stream, in order).
   */
  async roundTrip (): Promise<void> {
    await new Promise<void>((resolve) => {
      this.ws.once('pong', () => resolve())
      this.ws.ping()
    })
  }

  close (): void {
    this.ws.terminate()
  }
}

/** Waits until every instance has `channel` subscribed in Redis (the socket's channels() runs asynchronously). */
export async function waitSubscribed (instances: Instance[], listeners: number): Promise<void> {
  await waitUntil(`${listeners} listeners on each instance`, () => instances.every((i) => i.app.broadcast.stats().listeners >= listeners), 10_000, 10)
}

export const PREFIX = 'scaleout:broadcast:'

/** Waits until Redis counts `count` subscribers of a broadcast channel (PUBSUB NUMSUB, or SHARDNUMSUB). */
export async function waitRedisSubscribers (redis: { call: (...args: string[]) => Promise<unknown> }, channel: string, count: number, sharded = false): Promise<void> {
  await waitUntil(`${count} Redis subscribers of ${channel}`, async () => {
    const reply = await redis.call('PUBSUB', sharded ? 'SHARDNUMSUB' : 'NUMSUB', PREFIX + 'c:' + channel) as [string, number]
    return Number(reply[1]) === count
  }, 15_000, 20)
}

/**
 * `count` instances, each with one client per entry of `channelsPerClient`; all closed (clients
 * first) when the test ends.
 */
export async function startFleet (t: Test, count: number, options: BroadcastOptions, channelsPerClient: string[][]): Promise<{ instances: Instance[], clients: Client[] }> {
  const instances: Instance[] = []
  const clients: Client[] = []
  for (let i = 0; i < count; i++) instances.push(await startInstance(t, options))
  // Registered after the apps' own teardowns, so it runs before them: clients go first.
  t.teardown(() => { for (const c of clients) c.close() })
  for (const instance of instances) {
    for (const channels of channelsPerClient) clients.push(await Client.connect(instance.wsUrl, channels))
  }
  await waitSubscribed(instances, channelsPerClient.flat().length)
  return { instances, clients }
}

/** Subscribes a handler that keeps what it receives. */
export function collect (instance: Instance, channel: string): { seen: unknown[], off: () => void, waitFor: (count: number) => Promise<void> } {
  const seen: unknown[] = []
  const off = instance.app.broadcast.subscribe(channel, (message) => { seen.push(message) })
  return { seen, off, waitFor: async (count) => await waitUntil(`${count} messages on ${channel}`, () => seen.length >= count, 10_000, 10) }
}

/** A ws client that counts the pings it sees; `autoPong: false` makes one that never answers. */
export class PingClient {
  readonly ws: WebSocket
  pings = 0
  /** Payload bytes of every ping seen: the route's pings carry none. */
  pingBytes = 0
  readonly received: unknown[] = []
  closeCode: number | undefined
  readonly closed: Promise<number>

  constructor (url: string, options: { autoPong?: boolean } = {}) {
    this.ws = new WebSocket(url, options)
    this.ws.on('ping', (data: Buffer) => {
      this.pings++
      this.pingBytes += data.length
    })
    this.ws.on('message', (data: Buffer) => this.received.push(JSON.parse(data.toString())))
    this.closed = new Promise((resolve) => this.ws.once('close', (code: number) => {
      this.closeCode = code
      resolve(code)
    }))
  }

  async opened (): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    return this
  }

  async seen (pings: number): Promise<void> {
    await waitUntil(`${pings} pings`, () => this.pings >= pings, 10_000, 5)
  }
}
