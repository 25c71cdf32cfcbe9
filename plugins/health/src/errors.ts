import { createError } from '@fastify/error'
import { coreErrors } from '@scaleout/core'

// Every error this plugin raises, in one place, so codes stay unique and greppable.

/** Two checks were given the same name. */
export const DuplicateCheckError = createError(
  'SCALEOUT_ERR_HEALTH_DUPLICATE_CHECK',
  '@scaleout/health: a check named "%s" exists already',
  500
)

/** A check run did not settle within its timeout; reported as the check's `output`. */
export const CheckTimeoutError = createError(
  'SCALEOUT_ERR_HEALTH_CHECK_TIMEOUT',
  'check timed out after %dms',
  503
)

/** The previous run of a check never settled, so no new run was started on top of it. */
export const CheckStuckError = createError(
  'SCALEOUT_ERR_HEALTH_CHECK_STUCK',
  'previous run still pending after %dms; not started again',
  503
)

/** The server closed while a check was running: its signal is aborted with this and the run ends. */
export const CheckCancelledError = createError(
  'SCALEOUT_ERR_HEALTH_CHECK_CANCELLED',
  'check cancelled: the server is closing',
  503
)

/** The drain did not close the server before the deadline; the process exits anyway. */
export const DrainDeadlineError = createError(
  'SCALEOUT_ERR_HEALTH_DRAIN_DEADLINE',
  'the server did not close within %dms of the drain start; exiting',
  500
)

/**
 * Every error this plugin can throw or report, keyed by code, the core ones included (an invalid
 * option, an unreachable or refusing Redis), so `errors[err.code]` finds the class.
 */
export const errors = Object.freeze({
  ...coreErrors,
  SCALEOUT_ERR_HEALTH_DUPLICATE_CHECK: DuplicateCheckError,
  SCALEOUT_ERR_HEALTH_CHECK_TIMEOUT: CheckTimeoutError,
  SCALEOUT_ERR_HEALTH_CHECK_STUCK: CheckStuckError,
  SCALEOUT_ERR_HEALTH_CHECK_CANCELLED: CheckCancelledError,
  SCALEOUT_ERR_HEALTH_DRAIN_DEADLINE: DrainDeadlineError
})
