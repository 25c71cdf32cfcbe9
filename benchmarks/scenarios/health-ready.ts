import type { Scenario } from '../types.js'

// Readiness answers from cached check results: a probe must cost what a bare route costs. The peer
// runs its health check (the same Redis PING) on every probe.
const scenario: Scenario = {
  name: 'health-ready',
  description: 'GET /health/ready (Redis PING and event-loop checks cached in the background) vs a bare Fastify route',
  baseline: 'bare fastify',
  variants: [
    { name: 'bare fastify', server: 'servers/bare.ts', request: { path: '/' } },
    { name: '@scaleout/health /health/ready', server: 'servers/health-ready.ts', request: { path: '/health/ready' } },
    { name: '@scaleout/health /health/ready + x-served-by', server: 'servers/health-ready.ts', options: { instanceHeader: true }, request: { path: '/health/ready' } },
    { name: 'bare route beside @scaleout/health + x-served-by', server: 'servers/health-ready.ts', options: { instanceHeader: true }, request: { path: '/' } },
    { name: '@fastify/under-pressure /status (Redis PING per probe)', server: 'servers/health-under-pressure.ts', request: { path: '/status' } }
  ],
  targets: [
    { variant: '@scaleout/health /health/ready', against: 'bare fastify', min: 0.95 }
  ]
}
export default scenario
