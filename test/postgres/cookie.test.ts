import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { serialize } from '../../plugins/postgres/src/cookie.js'
import { positionOf, MAX_LSN } from '../../plugins/postgres/src/wal.js'

const settings = { name: 'scaleout-db-token', path: '/', domain: undefined, secure: 'auto' as const, sameSite: 'lax' as const, httpOnly: true, partitioned: false, maxAgeSeconds: 60 }

t.test('Secure follows the request protocol unless set', async (t) => {
  t.capture(Date, 'now', () => 1_700_000_000_000)
  const expires = new Date(1_700_000_060_000).toUTCString()
  const https = { protocol: 'https' } as FastifyRequest
  const http = { protocol: 'http' } as FastifyRequest
  t.equal(serialize(settings, https, 'v'), 'scaleout-db-token=v; Max-Age=60; Path=/; Expires=' + expires + '; HttpOnly; Secure; SameSite=Lax')
  t.equal(serialize(settings, http, 'v'), 'scaleout-db-token=v; Max-Age=60; Path=/; Expires=' + expires + '; HttpOnly; SameSite=Lax')
  t.equal(serialize({ ...settings, secure: true }, http, 'v'), 'scaleout-db-token=v; Max-Age=60; Path=/; Expires=' + expires + '; HttpOnly; Secure; SameSite=Lax')
  t.equal(serialize({ ...settings, secure: false }, https, 'v'), 'scaleout-db-token=v; Max-Age=60; Path=/; Expires=' + expires + '; HttpOnly; SameSite=Lax')
})

t.test('httpOnly and partitioned are the options\' own', async (t) => {
  t.capture(Date, 'now', () => 1_700_000_000_000)
  const expires = new Date(1_700_000_060_000).toUTCString()
  const https = { protocol: 'https' } as FastifyRequest
  t.equal(serialize({ ...settings, httpOnly: false }, https, 'v'), 'scaleout-db-token=v; Max-Age=60; Path=/; Expires=' + expires + '; Secure; SameSite=Lax')
  t.equal(serialize({ ...settings, partitioned: true, sameSite: 'none' as never, secure: true }, https, 'v'), 'scaleout-db-token=v; Max-Age=60; Path=/; Expires=' + expires + '; HttpOnly; Secure; Partitioned; SameSite=None')
})

t.test('a position that cannot be read back counts as the largest', async (t) => {
  t.equal(positionOf('0/16B3748'), 0x16b3748n)
  t.equal(positionOf(undefined), MAX_LSN)
})
