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

/** Every error this plugin can throw, keyed by code, the core ones included, so `errors[err.code]` finds the class. */
export const errors = Object.freeze({
  ...coreErrors,
  SCALEOUT_ERR_PROXY_CONFLICT: DecoratorConflictError
})
