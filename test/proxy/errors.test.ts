import t from 'tap'
import { coreErrors } from '@scaleout/core'
import proxy, { errors, proxy as named, DecoratorConflictError, UnsafeFastifyError } from '@scaleout/proxy'

t.test('the named export is the default export', async (t) => {
  t.equal(named, proxy)
})

t.test('errors maps every code to a class whose instances carry that code', async (t) => {
  t.ok(Object.isFrozen(errors))
  for (const [code, ErrorClass] of Object.entries(errors)) {
    const err = new ErrorClass()
    t.equal(err.code, code, code)
    t.ok(err instanceof Error, `${code} is an Error`)
  }
})

t.test('errors holds every core error and the plugin\'s own, nothing else', async (t) => {
  for (const [code, ErrorClass] of Object.entries(coreErrors)) t.equal(errors[code as keyof typeof errors], ErrorClass, code)
  t.equal(errors.SCALEOUT_ERR_PROXY_CONFLICT, DecoratorConflictError)
  t.equal(errors.SCALEOUT_ERR_PROXY_UNSAFE_FASTIFY, UnsafeFastifyError)
  t.same(Object.keys(errors).sort(), [...Object.keys(coreErrors), 'SCALEOUT_ERR_PROXY_CONFLICT', 'SCALEOUT_ERR_PROXY_UNSAFE_FASTIFY'].sort())
})
