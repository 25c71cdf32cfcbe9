import type { InstanceIdentity } from '@scaleout/core'
import type { FastifyInstance, FastifyReply, RouteShorthandOptions } from 'fastify'
import type { Settings } from './options.js'
import { answer, buildReport, CONTENT_TYPE, phaseOutput, type ProbeAnswer } from './report.js'
import type { HealthState } from './state.js'

const HEADERS = Object.freeze({ 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' })

function send (reply: FastifyReply, probe: ProbeAnswer): void {
  reply.code(probe.code).headers(HEADERS).send(probe.body)
}

/** The four routes; each reads cached state only. */
export function registerRoutes (fastify: FastifyInstance, settings: Settings, state: HealthState, identity: InstanceIdentity): void {
  const { paths } = settings
  const options: RouteShorthandOptions = { logLevel: settings.logLevel, exposeHeadRoute: true }

  if (paths.live !== false) {
    fastify.get(paths.live, options, (_request, reply) => send(reply, answer(state.live)))
  }
  if (paths.ready !== false) {
    fastify.get(paths.ready, options, (_request, reply) => send(reply, answer(state.readiness, phaseOutput(state))))
  }
  if (paths.startup !== false) {
    fastify.get(paths.startup, options, (_request, reply) => send(reply, answer(state.started ? 'pass' : 'fail', state.started ? undefined : 'starting')))
  }
  if (paths.details !== false) {
    fastify.get(paths.details, options, (request, reply) => {
      if (!settings.exposeDetails && !settings.detailsAllowed(request.ip)) {
        send(reply, answer(state.readiness, phaseOutput(state)))
        return
      }
      const report = buildReport(state, identity)
      reply.code(report.status === 'fail' ? 503 : 200).headers(HEADERS).send(JSON.stringify(report))
    })
  }
}
