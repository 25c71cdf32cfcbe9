import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { readCookie, serialize } from '../../plugins/postgres/src/cookie.js'
import { positionOf, MAX_LSN } from '../../plugins/postgres/src/wal.js'

const settings = { name: 'scaleout-db-token', path: '/', domain: undefined, secure: 'auto' as const, sameSite: 'Lax' as const, maxAgeSeconds: 60 }

t.test('the token cookie is found only under its exact name', async (t) => {
  t.equal(readCookie('scaleout-db-token=abc', 'scaleout-db-token'), 'abc')
  t.equal(readCookie('a=1; scaleout-db-token= abc ; b=2', 'scaleout-db-token'), 'abc')
  t.equal(readCookie('xscaleout-db-token=evil; scaleout-db-token=good', 'scaleout-db-token'), 'good')
  t.equal(readCookie('a=1', 'scaleout-db-token'), undefined)
  t.equal(readCookie('xscaleout-db-token=evil', 'scaleout-db-token'), undefined)
  t.equal(readCookie('scaleout-db-token=abc; ' + 'x'.repeat(16_384), 'scaleout-db-token'), undefined, 'an oversized header is not scanned')
})

t.test('Secure follows the request protocol unless set', async (t) => {
  const https = { protocol: 'https' } as FastifyRequest
  const http = { protocol: 'http' } as FastifyRequest
  t.equal(serialize(settings, https, 'v'), 'scaleout-db-token=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax')
  t.equal(serialize(settings, http, 'v'), 'scaleout-db-token=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax')
  t.equal(serialize({ ...settings, secure: true }, http, 'v'), 'scaleout-db-token=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax')
  t.equal(serialize({ ...settings, secure: false }, https, 'v'), 'scaleout-db-token=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax')
})

t.test('a position that cannot be read back counts as the largest', async (t) => {
  t.equal(positionOf('0/16B3748'), 0x16b3748n)
  t.equal(positionOf(undefined), MAX_LSN)
})
