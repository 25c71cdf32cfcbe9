import type { Scenario } from '../types.js'
import { variants } from '../servers/cache-variants.js'

const scenario: Scenario = {
  name: 'cache-l1-hit',
  description: 'GET /user served from the cache, one hot key: @scaleout/cache from its in-process L1',
  baseline: 'bare fastify',
  variants: variants('hit', [{ name: '@scaleout/cache L1 hit', l1: true }]),
  targets: [{ variant: '@scaleout/cache L1 hit', against: 'bare fastify', min: 0.92 }]
}
export default scenario
