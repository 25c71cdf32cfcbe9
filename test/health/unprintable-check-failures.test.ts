import t from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import { CheckRunner, type Entry } from '../../plugins/health/src/runner.js'
import { waitUntil } from '../helpers/index.js'
import { build } from './fixtures/app.js'

// Once, a check that rejected with a value String() cannot convert (a null-prototype object), or
// reported a status JSON cannot write (a BigInt), made the runner itself throw: background runs
// became unhandled rejections (fatal under Node's default), the check kept its last pass so
// readiness stayed 200, the first run made ready() reject and refresh() rejected.

const LONG = 60_000

const unhandled: unknown[] = []
const onRejection = (err: unknown): void => { unhandled.push(err) }
process.on('unhandledRejection', onRejection)
t.teardown(() => { process.off('unhandledRejection', onRejection) })

function revokedProxy (): object {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

/** `err` with a message getter that throws. */
function unreadable (err: Error): Error {
  Object.defineProperty(err, 'message', { get () { throw new Error('no message') }, enumerable: false })
  return err
}

t.test('a background run rejecting with a null-prototype object fails the check and readiness', async (t) => {
  let calls = 0
  const { app } = await build(t, {
    checks: {
      dep: { interval: 50, check: async () => { calls++; if (calls > 1) throw Object.assign(Object.create(null), { reason: 'down' }) } }
    }
  })
  await app.ready()
  t.equal((await app.inject('/health/ready')).statusCode, 200, 'the first run passed')
  await waitUntil('readiness 503 once the check rejects', async () => (await app.inject('/health/ready')).statusCode === 503, 10_000)
  t.match(app.health.report().checks['dep:responseTime'], [{ status: 'fail', output: '{"reason":"down"}' }])
  const report = await app.health.refresh()
  t.equal(report.status, 'fail', 'refresh() resolves with the failing report')
  t.match(report.checks['dep:responseTime'], [{ status: 'fail', output: '{"reason":"down"}' }])
  t.same(unhandled, [], 'no unhandled rejection')
})

t.test('the same rejection on the first run: ready() resolves and readiness fails', async (t) => {
  const { app } = await build(t, {
    checks: { dep: { interval: LONG, check: async () => { throw Object.create(null) } } }
  })
  await app.ready()
  const res = await app.inject('/health/ready')
  t.equal(res.statusCode, 503)
  t.match(app.health.report().checks['dep:responseTime'], [{ status: 'fail', output: '{}' }])
  t.same(unhandled, [], 'no unhandled rejection')
})

t.test('values that defeat String() or JSON still fail the check with an output', async (t) => {
  const cases: Array<[string, () => unknown, string]> = [
    ['a BigInt status', () => ({ status: 1n }), 'check reported the unknown status 1'],
    ['a Symbol status', () => ({ status: Symbol('up') }), 'check reported the unknown status Symbol(up)'],
    ['a rejection with a revoked Proxy', async () => { throw revokedProxy() }, 'a value of type object that cannot be written as text'],
    ['an Error whose message getter throws', async () => { throw unreadable(new Error('hidden')) }, 'an error (Error) that cannot be written as text'],
    ['an observation whose getter throws', () => ({ get status () { throw new Error('getter broke') } }), 'check result could not be read: getter broke']
  ]
  for (const [what, check, output] of cases) {
    const { app } = await build(t, { checks: { c: { check, interval: LONG } } })
    await app.ready()
    t.same(app.health.report().checks['c:responseTime']?.map((o) => [o.status, o.output]), [['fail', output]], what)
    t.equal((await app.inject('/health/ready')).statusCode, 503, `${what}: readiness fails`)
    const report = await app.health.refresh()
    t.equal(report.status, 'fail', `${what}: refresh() resolves`)
    await app.close()
  }
  t.same(unhandled, [], 'no unhandled rejection')
})

// An Error whose message could not be read (a getter that throws, a message that is not a string
// with a toString that throws, a Proxy) used to fail its check with the output `{}`: the JSON of an
// Error holds none of its message. The output now says what it was, as far as that reads safely.
t.test('an Error whose message cannot be read fails its check with an output that says so', async (t) => {
  class ServiceError extends Error {
    override get message (): string { throw new Error('no message') }
  }
  const renamed = (name: unknown): Error => {
    const err = unreadable(new Error('hidden'))
    Object.defineProperty(err, 'constructor', { value: { name }, enumerable: false })
    return err
  }
  const proxied = new Proxy(new Error('hidden'), { get () { throw new Error('no access') } })
  const cases: Array<[string, () => unknown, string]> = [
    ['a subclass whose message getter throws', async () => { throw new ServiceError() }, 'an error (ServiceError) that cannot be written as text'],
    ['a message that is not a string and a toString that throws', async () => {
      const err = new Error('hidden')
      Object.defineProperty(err, 'message', { value: 42, enumerable: false })
      Object.defineProperty(err, 'toString', { value: () => { throw new Error('no text') }, enumerable: false })
      throw err
    }, 'an error (Error) that cannot be written as text'],
    ['a Proxy of an Error that refuses every read', async () => { throw proxied }, 'an error that cannot be written as text'],
    ['a class name that is not fit to print', async () => { throw renamed('<b>x</b>') }, 'an error that cannot be written as text'],
    ['a class name that is not a string', async () => { throw renamed(42) }, 'an error that cannot be written as text'],
    ['own enumerable fields still show', async () => { throw Object.assign(unreadable(new Error('hidden')), { code: 'EDOWN' }) }, '{"code":"EDOWN"}'],
    ['as a status', () => ({ status: unreadable(new Error('hidden')) }), 'check reported the unknown status an error (Error) that cannot be written as text']
  ]
  for (const [what, check, output] of cases) {
    const { app } = await build(t, { checks: { c: { check, interval: LONG } } })
    await app.ready()
    t.same(app.health.report().checks['c:responseTime']?.map((o) => [o.status, o.output]), [['fail', output]], what)
    t.equal((await app.inject('/health/ready')).statusCode, 503, `${what}: readiness fails`)
    await app.close()
  }
  t.same(unhandled, [], 'no unhandled rejection')
})

t.test('a throw in the runner\'s own bookkeeping during a background run is logged, not left unhandled', async (t) => {
  const logged: unknown[][] = []
  const log = { error: (...args: unknown[]) => { logged.push(args) } } as unknown as FastifyBaseLogger
  let updates = 0
  const runner = new CheckRunner(new Map<string, Entry>(), () => {
    // add() announces the new check first; the update after its run throws.
    if (++updates === 2) throw new Error('state broke')
  }, log)
  t.teardown(() => { runner.stop() })
  await runner.start()
  runner.add('c', () => undefined, { critical: true, timeout: 1000, interval: LONG, measurement: 'responseTime' })
  await waitUntil('the failure logged', () => logged.length === 1, 10_000)
  t.match(logged, [[{ err: { message: 'state broke' }, check: 'c' }, 'health check run failed']])
  t.same(unhandled, [], 'no unhandled rejection')
})
