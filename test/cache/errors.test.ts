import t from 'tap'
import { coreErrors } from '@scaleout/core'
import { BreakerOpenError, CorruptEntryError, errors, InvalidCallOptionError, InvalidKeyError } from '@scaleout/cache'

t.test('errors holds every error the cache can throw, core ones included, keyed by code', async (t) => {
  const own = { InvalidKeyError, InvalidCallOptionError, BreakerOpenError, CorruptEntryError }
  t.same(Object.keys(errors).sort(), [...Object.keys(coreErrors), 'SCALEOUT_ERR_CACHE_KEY', 'SCALEOUT_ERR_CACHE_OPTION', 'SCALEOUT_ERR_CACHE_BREAKER_OPEN', 'SCALEOUT_ERR_CACHE_CORRUPT_ENTRY'].sort())
  for (const [code, ErrorClass] of Object.entries(errors)) {
    const err = new (ErrorClass as new (...args: unknown[]) => Error & { code: string })('a', 'b', 'c')
    t.equal(err.code, code, `${code} instances carry their code`)
    t.ok(err instanceof ErrorClass, code)
  }
  for (const [name, ErrorClass] of Object.entries(own)) {
    t.equal(errors[new ErrorClass('a', 1).code as keyof typeof errors], ErrorClass, `${name} is in errors`)
  }
  for (const [code, ErrorClass] of Object.entries(coreErrors)) t.equal(errors[code as keyof typeof errors], ErrorClass, `core ${code}`)
  t.ok(Object.isFrozen(errors))
})
