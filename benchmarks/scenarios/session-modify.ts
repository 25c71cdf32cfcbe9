import type { Scenario } from '../types.js'
import { SHARED, floorVariants, sessionVariants } from '../servers/session-common.js'

const scenario: Scenario = {
  name: 'session-modify',
  description: 'GET /modify with a logged-in 1 KB session: a counter in the session incremented, one session per connection',
  baseline: 'bare fastify',
  // The floors: what the two round trips of a modification cost by themselves (read before the
  // handler, write before the headers), the ceiling for any Redis session.
  variants: [...sessionVariants('/modify', 'each'), ...floorVariants('/modify')],
  targets: [
    // The same request path whoever created the client (the core's senderFor).
    { variant: SHARED, against: '@scaleout/session', min: 0.95 },
    { variant: '@scaleout/session', against: 'bare fastify', min: 0.55 }
  ]
}
export default scenario
