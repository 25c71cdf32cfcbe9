import type { Scenario } from '../types.js'
import { sessionVariants } from '../servers/session-common.js'

const scenario: Scenario = {
  name: 'session-modify',
  description: 'GET /modify with a logged-in session cookie: a counter in the session incremented, one session per connection',
  baseline: 'bare fastify',
  variants: sessionVariants('/modify', 'each'),
  targets: [
    { variant: '@scaleout/session', against: 'bare fastify', min: 0.7 }
  ]
}
export default scenario
