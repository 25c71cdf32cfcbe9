import type { Scenario } from '../types.js'
import { FLOOR_WITH_HOOKS, SHARED, floorVariants, sessionVariants } from '../servers/session-common.js'

const scenario: Scenario = {
  name: 'session-read',
  description: 'GET /read with a logged-in 1 KB session: one value read (sessions slide their expiry), one session per connection',
  baseline: 'bare fastify',
  // The floors: what one Redis round trip costs on this machine by itself, the ceiling for any Redis session.
  variants: [...sessionVariants('/read', 'each'), ...floorVariants('/read')],
  targets: [
    // The same request path whoever created the client (the core's senderFor).
    { variant: SHARED, against: '@scaleout/session', min: 0.95 },
    { variant: '@scaleout/session', against: 'floor: one GETEX + JSON.parse, no session logic', min: 0.95 },
    // The same bar against the floor that also runs a session plugin's two hooks, empty: how much of
    // what separates ours from the floor is the plugin's own work.
    { variant: '@scaleout/session', against: FLOOR_WITH_HOOKS, min: 0.95 },
    { variant: '@scaleout/session', against: '@fastify/session + connect-redis', min: 2 }
  ]
}
export default scenario
