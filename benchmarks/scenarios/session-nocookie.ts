import type { Scenario } from '../types.js'
import { sessionVariants } from '../servers/session-common.js'

const scenario: Scenario = {
  name: 'session-nocookie',
  description: 'GET /read without any cookie: the handler reads the (empty) session',
  baseline: 'bare fastify',
  variants: sessionVariants('/read', 'none'),
  targets: [
    { variant: '@scaleout/session', against: 'bare fastify', min: 0.97 }
  ]
}
export default scenario
