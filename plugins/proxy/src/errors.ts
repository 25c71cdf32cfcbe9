import { createError } from '@fastify/error'

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
