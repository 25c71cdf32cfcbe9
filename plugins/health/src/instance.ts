import { invalid, type InstanceIdentity } from '@scaleout/core'
import type { FastifyInstance } from 'fastify'
import { PLUGIN, type Settings } from './options.js'

// What Node lets a header value hold: any other character fails every response at write time.
const NOT_HEADER_TEXT = /[^\t\x20-\x7e\x80-\xff]/

/**
 * Says which instance served what: an optional response header on every response and `instance`
 * in every request's log lines. Only routes registered after this plugin get the logger binding,
 * so register @scaleout/health first.
 */
export function bindInstance (fastify: FastifyInstance, settings: Settings, identity: InstanceIdentity): void {
  const { id } = identity
  const header = settings.instanceHeader
  if (header !== false) {
    // Refused here, where one bad HOSTNAME stops one deploy, rather than in every response's 500.
    if (NOT_HEADER_TEXT.test(id)) throw invalid(PLUGIN, 'instanceHeader', 'off, or an instance id a header can carry: the id (HOSTNAME, else the OS host name) holds a character an HTTP header value cannot (only tab, printable ASCII and U+0080 to U+00FF), which would fail every response')
    fastify.addHook('onRequest', (_request, reply, done) => {
      reply.header(header, id)
      done()
    })
  }
  // With logging off Fastify hands every request the root null logger; a factory of ours would
  // cost a child logger per request for nothing.
  const loggingOn = fastify.log.child({}) !== fastify.log
  if (settings.logInstance && loggingOn) {
    const previous = fastify.childLoggerFactory
    fastify.setChildLoggerFactory(function (logger, bindings, options, raw) {
      return previous.call(this, logger, { ...bindings, instance: id }, options, raw)
    })
  }
}
