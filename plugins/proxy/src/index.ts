import fp from 'fastify-plugin'
import { PLUGIN } from './errors.js'
import { proxyPlugin } from './plugin.js'
import type { ProxyOptions } from './types.js'

export type * from './types.js'
export { errors, DecoratorConflictError, UnsafeFastifyError } from './errors.js'
export { PRESETS } from './trust.js'
export { trustProxy } from './trust-proxy.js'

/** Trusted-proxy handling: request.ip, ips, protocol, host, hostname and port give the client's values. */
export const proxy = fp<ProxyOptions>(proxyPlugin, { fastify: '5.x', name: PLUGIN })
export default proxy
