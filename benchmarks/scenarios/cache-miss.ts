import type { Scenario } from '../types.js'
import { variants } from '../servers/cache-variants.js'

const scenario: Scenario = {
  name: 'cache-miss',
  description: 'GET /user with a new key per request: read, compute, store (the lease, tags and invalidation message included for @scaleout/cache)',
  baseline: 'bare fastify',
  variants: variants('miss', [{ name: '@scaleout/cache miss + fill (L1 on)', l1: true }, { name: '@scaleout/cache miss + fill (L1 off)', l1: false }])
}
export default scenario
