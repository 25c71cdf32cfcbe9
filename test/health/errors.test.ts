import t from 'tap'
import { coreErrors } from '@scaleout/core'
import health, {
  errors, health as named, CheckCancelledError, CheckStuckError, CheckTimeoutError, DrainDeadlineError, DuplicateCheckError
} from '@scaleout/health'

t.test('the named export is the default export', async (t) => {
  t.equal(named, health)
})

t.test('errors maps every code to a class whose instances carry that code', async (t) => {
  t.ok(Object.isFrozen(errors))
  for (const [code, ErrorClass] of Object.entries(errors)) {
    const err = new ErrorClass()
    t.equal(err.code, code, code)
    t.ok(err instanceof ErrorClass, `${code}: instanceof errors[code]`)
    t.ok(err instanceof Error, `${code} is an Error`)
    t.equal(err.name, 'FastifyError', code)
  }
})

t.test('errors holds every core error and each of the plugin\'s own', async (t) => {
  for (const [code, ErrorClass] of Object.entries(coreErrors)) t.equal(errors[code as keyof typeof errors], ErrorClass, code)
  const own = {
    SCALEOUT_ERR_HEALTH_DUPLICATE_CHECK: DuplicateCheckError,
    SCALEOUT_ERR_HEALTH_CHECK_TIMEOUT: CheckTimeoutError,
    SCALEOUT_ERR_HEALTH_CHECK_STUCK: CheckStuckError,
    SCALEOUT_ERR_HEALTH_CHECK_CANCELLED: CheckCancelledError,
    SCALEOUT_ERR_HEALTH_DRAIN_DEADLINE: DrainDeadlineError
  }
  for (const [code, ErrorClass] of Object.entries(own)) t.equal(errors[code as keyof typeof errors], ErrorClass, code)
  t.same(Object.keys(errors).sort(), [...Object.keys(coreErrors), ...Object.keys(own)].sort(), 'nothing else')
})

t.test('the plugin\'s errors say what happened, with their status codes', async (t) => {
  t.match(new DuplicateCheckError('db'), { message: '@scaleout/health: a check named "db" exists already', statusCode: 500 })
  t.match(new CheckTimeoutError(50), { message: 'check timed out after 50ms', statusCode: 503 })
  t.match(new CheckStuckError(120), { message: 'previous run still pending after 120ms; not started again', statusCode: 503 })
  t.match(new CheckCancelledError(), { message: 'check cancelled: the server is closing', statusCode: 503 })
  t.match(new DrainDeadlineError(400), { message: 'the server did not close within 400ms of the drain start; exiting', statusCode: 500 })
})
