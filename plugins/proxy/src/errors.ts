import { createError } from '@fastify/error'
import { coreErrors } from '@scaleout/core'

export const PLUGIN = '@scaleout/proxy'

/**
 * A request property the plugin overrides is already defined on this instance's requests: Fastify's
 * `trustProxy` option (which defines ip, ips, host and protocol itself) or another plugin.
 */
export const DecoratorConflictError = createError(
  'SCALEOUT_ERR_PROXY_CONFLICT',
  '@scaleout/proxy cannot define request.%s: it is already defined, by Fastify\'s `trustProxy` option or another plugin. ' +
    'Remove `trustProxy` from the Fastify options (the plugin already gives Fastify\'s request log the client address), ' +
    'or pass `trustProxy(options)` to Fastify without registering the plugin',
  500
)

/**
 * `trustProxy(options)` on a Fastify (5.0.0 to 5.8.2) that reads X-Forwarded-Proto and
 * X-Forwarded-Host from any peer once `trustProxy` is set, whatever the trust function says.
 */
export const UnsafeFastifyError = createError(
  'SCALEOUT_ERR_PROXY_UNSAFE_FASTIFY',
  '@scaleout/proxy: trustProxy(options) needs Fastify 5.8.3 or later: Fastify %s reads X-Forwarded-Proto and X-Forwarded-Host from any peer once trustProxy is set, trusted or not (CVE-2026-3635), ' +
    'so a client connecting directly would choose its own protocol and host. Upgrade Fastify, or register the plugin instead, which works on every Fastify 5 release',
  500
)

/** Every error this plugin can throw, keyed by code, the core ones included, so `errors[err.code]` finds the class. */
export const errors = Object.freeze({
  ...coreErrors,
  SCALEOUT_ERR_PROXY_CONFLICT: DecoratorConflictError,
  SCALEOUT_ERR_PROXY_UNSAFE_FASTIFY: UnsafeFastifyError
})
