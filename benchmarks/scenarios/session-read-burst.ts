import type { Scenario } from '../types.js'
import { sessionVariants } from '../servers/session-common.js'

const scenario: Scenario = {
  name: 'session-read-burst',
  description: 'GET /read with a logged-in session cookie: one value read (sessions slide their expiry), every connection on the same session (parallel requests from one browser)',
  baseline: 'bare fastify',
  variants: sessionVariants('/read', 'shared'),
  targets: [
    { variant: '@scaleout/session', against: 'bare fastify', min: 0.85 },
    { variant: '@scaleout/session', against: '@fastify/session + connect-redis', min: 2 }
  ]
}
export default scenario
