import type { InstanceIdentity } from '@scaleout/core'
import type { FastifyInstance, FastifyReply, RouteShorthandOptions } from 'fastify'
import type { Settings } from './options.js'
import type { ProbeAnswer } from './answer.js'
import { buildReport, CONTENT_TYPE } from './report.js'
import type { HealthState } from './state.js'

function send (reply: FastifyReply, code: number, body: string): void {
  reply.code(code).header('content-type', CONTENT_TYPE).header('cache-control', 'no-store').send(body)
}

function sendProbe (reply: FastifyReply, probe: ProbeAnswer): void {
  send(reply, probe.code, probe.body)
}

/** The four routes; each reads cached state only. */
export function registerRoutes (fastify: FastifyInstance, settings: Settings, state: HealthState, identity: InstanceIdentity): void {
  const { paths } = settings
  const options: RouteShorthandOptions = { logLevel: settings.logLevel, exposeHeadRoute: true }

  if (paths.live !== false) {
    fastify.get(paths.live, options, (_request, reply) => sendProbe(reply, state.liveAnswer))
  }
  if (paths.ready !== false) {
    fastify.get(paths.ready, options, (_request, reply) => sendProbe(reply, state.readyAnswer))
  }
  if (paths.startup !== false) {
    fastify.get(paths.startup, options, (_request, reply) => sendProbe(reply, state.startupAnswer))
  }
  if (paths.details !== false) {
    fastify.get(paths.details, options, (request, reply) => {
      if (!settings.exposeDetails && !settings.detailsAllowed(request)) {
        sendProbe(reply, state.readyAnswer)
        return
      }
      const report = buildReport(state, identity)
      send(reply, report.status === 'fail' ? 503 : 200, JSON.stringify(report))
    })
  }
}
