import type { Scenario } from '../types.js'
import { variants } from '../servers/cache-variants.js'

const scenario: Scenario = {
  name: 'cache-l2-10k',
  description: 'GET /user served from Redis (L1 off) over 10,000 keys, a uniform random key per request, all filled before measuring: every request a Redis round trip',
  baseline: 'bare fastify',
  variants: variants('spread', [{ name: '@scaleout/cache L2 hit (10k keys)', l1: false }]),
  targets: [
    { variant: '@scaleout/cache L2 hit (10k keys)', against: 'raw ioredis GET + JSON.parse', min: 0.95 }
  ]
}
export default scenario
