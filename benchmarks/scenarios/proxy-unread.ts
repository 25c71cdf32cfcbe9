import type { BenchRequest, Scenario } from '../types.js'

// Issue 4: requests that never read ip/ips/protocol/host must pay nothing measurable for the plugin.
const request: BenchRequest = { path: '/', headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.2, 10.0.0.1' } }

const scenario: Scenario = {
  name: 'proxy-unread',
  description: 'GET / with a 3-hop X-Forwarded-For that never reads the client address',
  baseline: 'bare fastify',
  variants: [
    { name: 'bare fastify', server: 'servers/proxy-variants.ts', options: { mode: 'bare' }, request },
    { name: '@scaleout/proxy (unread)', server: 'servers/proxy-variants.ts', options: { mode: 'plugin' }, request }
  ],
  targets: [{ variant: '@scaleout/proxy (unread)', against: 'bare fastify', min: 0.97 }]
}
export default scenario
