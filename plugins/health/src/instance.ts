import type { InstanceIdentity } from '@scaleout/core'
import type { FastifyInstance } from 'fastify'
import type { Settings } from './options.js'

/**
 * Says which instance served what: an optional response header on every response and `instance`
 * in every request's log lines. Only routes registered after this plugin get the logger binding,
 * so register @scaleout/health first.
 */
export function bindInstance (fastify: FastifyInstance, settings: Settings, identity: InstanceIdentity): void {
  const { id } = identity
  const header = settings.instanceHeader
  if (header !== false) {
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
