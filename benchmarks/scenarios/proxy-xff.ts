import type { BenchRequest, Scenario } from '../types.js'

// Issue 4: a request through three proxies (3-hop X-Forwarded-For, peer on loopback) that reads
// request.ip, with bare Fastify (no trust: the socket peer), Fastify's own trustProxy and the plugin.
const request: BenchRequest = { path: '/ip', headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.2, 10.0.0.1' } }

const scenario: Scenario = {
  name: 'proxy-xff',
  description: 'GET /ip with a 3-hop X-Forwarded-For, returning request.ip',
  baseline: 'bare fastify (no trust)',
  variants: [
    { name: 'bare fastify (no trust)', server: 'servers/proxy-variants.ts', options: { mode: 'bare' }, request },
    { name: 'fastify trustProxy', server: 'servers/proxy-variants.ts', options: { mode: 'fastify' }, request },
    { name: '@scaleout/proxy', server: 'servers/proxy-variants.ts', options: { mode: 'plugin' }, request }
  ],
  targets: [{ variant: '@scaleout/proxy', against: 'bare fastify (no trust)', min: 0.97 }]
}
export default scenario
