import type { Scenario } from '../types.js'

// Bare Fastify against itself: proves the runner and shows how noisy this machine is
// (the second row's ratio should sit near 1.00).
const scenario: Scenario = {
  name: 'baseline',
  description: 'bare Fastify GET / returning a small JSON body, measured twice',
  baseline: 'bare fastify',
  variants: [
    { name: 'bare fastify', server: 'servers/bare.ts', request: { path: '/' } },
    { name: 'bare fastify (again)', server: 'servers/bare.ts', request: { path: '/' } }
  ]
}
export default scenario
