import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DecoratorConflictError } from './errors.js'
import { hostnameOf, portOf } from './host.js'
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

/**
 * How many prototypes of the scope's request class define `ip`: Fastify's own request defines it
 * once. More means Fastify's `trustProxy`, or another plugin (this one in a parent scope included),
 * already answers request.ip for routes of this app. Fastify lets a child scope shadow a decorator,
 * so decorating would not fail there, and the app would give two answers: spoofable outside the
 * scope. Undefined when Fastify's request class is not found under the name Fastify 5 gives it:
 * Fastify's own check (which catches a root-level conflict) is then all there is.
 */
function ipDefinitions (fastify: FastifyInstance): number | undefined {
  const key = Object.getOwnPropertySymbols(fastify).find((symbol) => symbol.description === 'fastify.Request')
  const requestClass = key === undefined ? undefined : (fastify as unknown as Record<symbol, { prototype?: object } | undefined>)[key]
  if (typeof requestClass?.prototype !== 'object') return undefined
  let count = 0
  for (let proto: object | null = requestClass.prototype; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    if (Object.hasOwn(proto, 'ip')) count++
  }
  return count
}

export async function proxyPlugin (fastify: FastifyInstance, options: ProxyOptions): Promise<void> {
  const config: Config = normalizeOptions(options)
  const definitions = ipDefinitions(fastify)
  if (definitions !== undefined && definitions > 1) throw new DecoratorConflictError('ip')
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
  decorate(fastify, 'hostname', function () { return hostnameOf(this.host) })
  decorate(fastify, 'port', function () { return portOf(this.host) })
  decorate(fastify, 'forwarded', function () {
    const slots = this as unknown as Slots
    slots[kForwarded] ??= describe(config, state(this), remoteOf(this.raw), this.raw.headers)
    return slots[kForwarded]
  })
  fastify.decorateRequest(kWalk, null)
  fastify.decorateRequest(kForwarded, null)
}
