import type { Scenario } from '../types.js'
import { variants } from '../servers/cache-variants.js'

const scenario: Scenario = {
  name: 'cache-l2-hit',
  description: 'GET /user served from Redis (L1 off), one hot key',
  baseline: 'bare fastify',
  variants: variants('hit', [{ name: '@scaleout/cache L2 hit', l1: false }]),
  targets: [
    { variant: '@scaleout/cache L2 hit', against: 'bare fastify', min: 0.65 },
    { variant: '@scaleout/cache L2 hit', against: 'bentocache L2', min: 1.2 }
  ]
}
export default scenario
