import t from 'tap'
import { failureOf } from '../../plugins/postgres/src/execute.js'

// Which failures blame the host (and take a replica out of rotation, retry a read, or make a
// write's outcome unknown), and which are the caller's own.

t.test('a failure is the host\'s by its code; only pg\'s own code-less errors are read by their message', async (t) => {
  const server = (code: string, message: string): Error => Object.assign(new Error(message), { code })
  t.equal(failureOf(server('40001', 'canceling statement due to conflict with recovery')), 'conflict')
  t.equal(failureOf(server('25006', 'cannot execute INSERT in a read-only transaction')), 'read-only')
  t.equal(failureOf(server('08006', 'connection failure')), 'unavailable')
  t.equal(failureOf(server('57P01', 'terminating connection due to administrator command')), 'unavailable')
  t.equal(failureOf(server('53300', 'sorry, too many clients already')), 'unavailable')
  t.equal(failureOf(server('ECONNRESET', 'read ECONNRESET')), 'unavailable')
  t.equal(failureOf(server('22P02', 'invalid input syntax for type bigint: "connection error"')), null, 'an echo of the input is the caller\'s error')
  t.equal(failureOf(server('42601', 'syntax error at or near "Connection terminated"')), null)
  t.equal(failureOf(new Error('Connection terminated unexpectedly')), 'unavailable', 'pg\'s own, with no code')
  t.equal(failureOf(new Error('timeout exceeded when trying to connect')), 'unavailable')
  t.equal(failureOf(new TypeError('Client was passed a null or undefined query')), null)
  t.equal(failureOf({}), null, 'no message at all')
  t.equal(failureOf(undefined), null)
})
