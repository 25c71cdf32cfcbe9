import type { Scenario } from '../types.js'
import { variants } from '../servers/cache-variants.js'

// The hot-key case: concurrent requests for the one key share a read in every library that
// coalesces, so this is not what an L2 read costs (cache-l2-10k is).
const scenario: Scenario = {
  name: 'cache-l2-hit',
  description: 'GET /user served from Redis (L1 off), one hot key: the hot-key case, where in-process coalescing shares one Redis read among concurrent requests',
  baseline: 'bare fastify',
  variants: variants('hit', [{ name: '@scaleout/cache L2 hit (hot key)', l1: false }]),
  targets: [
    { variant: '@scaleout/cache L2 hit (hot key)', against: 'bare fastify', min: 0.65 },
    { variant: '@scaleout/cache L2 hit (hot key)', against: 'bentocache L2', min: 1.2 }
  ]
}
export default scenario
