import fp from 'fastify-plugin'
import { PLUGIN } from './options.js'
import { healthPlugin } from './plugin.js'
import type { HealthOptions } from './types.js'

/** Health routes, cached dependency checks, instance identity and a graceful drain. */
export const health = fp<HealthOptions>(healthPlugin, { fastify: '5.x', name: PLUGIN })
export default health
export { redisCheck } from './redis-check.js'
export { errors, DuplicateCheckError, CheckCancelledError, CheckStuckError, CheckTimeoutError, DrainDeadlineError } from './errors.js'
export { DEFAULT_PATHS } from './options.js'
export { CONTENT_TYPE } from './report.js'
export type * from './types.js'
