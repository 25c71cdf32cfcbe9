import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DecoratorConflictError } from './errors.js'
import { normalizeOptions, type Config } from './options.js'
import { describe, encryptedOf, hostOf, protocolOf, remoteOf, walk, type Walk } from './resolve.js'
import type { ForwardedInfo, ProxyOptions } from './types.js'

// The per-request cache: declared up front (one null store per request), filled on first read.
const kWalk = Symbol('@scaleout/proxy.walk')
const kForwarded = Symbol('@scaleout/proxy.forwarded')

interface Slots {
  [kWalk]: Walk | null
  [kForwarded]: ForwardedInfo | null
}

export const TRUST_ALL_WARNING = '@scaleout/proxy: trust is "all": every peer may set the client address, so any client that reaches this server directly can choose its own IP. Use it only when the network lets nothing but your proxies connect.'

function decorate (fastify: FastifyInstance, name: string, getter: (this: FastifyRequest) => unknown): void {
  try {
    fastify.decorateRequest(name, { getter })
  } catch (err) {
    if ((err as { code?: string }).code === 'FST_ERR_DEC_ALREADY_PRESENT') throw new DecoratorConflictError(name)
    throw err
  }
}

export async function proxyPlugin (fastify: FastifyInstance, options: ProxyOptions): Promise<void> {
  const config: Config = normalizeOptions(options)
  if (config.trustAll) fastify.log.warn(TRUST_ALL_WARNING)

  function state (request: FastifyRequest): Walk {
    const slots = request as unknown as Slots
    let w = slots[kWalk]
    if (w === null) {
      w = walk(config, remoteOf(request.raw), request.raw.headers)
      slots[kWalk] = w
    }
    return w
  }

  decorate(fastify, 'ip', function () { return state(this).ip })
  decorate(fastify, 'ips', function () { return state(this).ips })
  decorate(fastify, 'protocol', function () {
    const w = state(this)
    w.protocol ??= protocolOf(config, w, this.raw.headers, encryptedOf(this.raw))
    return w.protocol
  })
  decorate(fastify, 'host', function () {
    const w = state(this)
    w.host ??= hostOf(config, w, this.raw.headers, this.raw.rawHeaders)
    return w.host
  })
  decorate(fastify, 'forwarded', function () {
    const slots = this as unknown as Slots
    slots[kForwarded] ??= describe(config, state(this), remoteOf(this.raw), this.raw.headers)
    return slots[kForwarded]
  })
  fastify.decorateRequest(kWalk, null)
  fastify.decorateRequest(kForwarded, null)
}
