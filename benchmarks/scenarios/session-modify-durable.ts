import type { Scenario, Variant } from '../types.js'
import { sessionVariants } from '../servers/session-common.js'

const [bare, ours] = sessionVariants('/modify', 'each') as [Variant, Variant]

const scenario: Scenario = {
  name: 'session-modify-durable',
  description: 'GET /modify as in session-modify, on a primary with one replica: what WAIT behind every write (`durable`) costs',
  baseline: 'bare fastify',
  replica: true,
  variants: [
    bare,
    ours,
    { ...ours, name: '@scaleout/session, durable: { replicas: 1 }', options: { durable: { replicas: 1, timeout: 500 } } },
    // A modification that is no login: no WAIT, so this row should match the one without durable.
    { ...ours, name: '@scaleout/session, durable: { writes: \'logins\' }', options: { durable: { replicas: 1, timeout: 500, writes: 'logins' } } }
  ]
}
export default scenario
