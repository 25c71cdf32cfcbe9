import type { Scenario } from '../types.js'
import { floorVariants, sessionVariants } from '../servers/session-common.js'

// The modify scenario with 8 KB sessions: a write must cost Redis what the change costs, not what
// the session weighs (the unchanged 8 KB is neither sent nor parsed again).
const scenario: Scenario = {
  name: 'session-modify-8k',
  description: 'GET /modify with a logged-in 8 KB session: a counter in the session incremented, one session per connection',
  baseline: 'bare fastify',
  variants: [...sessionVariants('/modify', 'each', 8192), ...floorVariants('/modify', 8192)],
  targets: [{ variant: '@scaleout/session', against: 'bare fastify', min: 0.55 }]
}
export default scenario
