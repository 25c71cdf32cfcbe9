import type { Scenario } from '../types.js'
import { sessionVariants } from '../servers/session-common.js'

const variants = sessionVariants('/read', 'each')

const scenario: Scenario = {
  name: 'session-read',
  description: 'GET /read with a logged-in session cookie: one value read (sessions slide their expiry), one session per connection',
  baseline: 'bare fastify',
  variants: [
    ...variants,
    // What one Redis round trip costs on this machine by itself: the ceiling for any Redis session.
    { ...(variants[0] as (typeof variants)[number]), name: 'floor: one GETEX + JSON.parse, no session logic', server: 'servers/session-floor.ts' }
  ],
  targets: [
    { variant: '@scaleout/session', against: 'bare fastify', min: 0.85 },
    { variant: '@scaleout/session', against: '@fastify/session + connect-redis', min: 2 }
  ]
}
export default scenario
