// The server process of one benchmark variant: builds the Fastify app from the given module,
// listens on a free loopback port and tells the runner which one over IPC.
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'
import type { BuildServer } from './types.js'

const [modulePath, optionsJson = '{}'] = process.argv.slice(2)
if (modulePath === undefined || process.send === undefined) {
  console.error('usage: started by benchmarks/run.ts with an IPC channel: serve.ts <server module> [options json]')
  process.exit(2)
}

const { build } = await import(pathToFileURL(resolve(import.meta.dirname, modulePath)).href) as { build: BuildServer }
const app = await build({ redisUrl: process.env.REDIS_URL ?? '', options: JSON.parse(optionsJson) as Record<string, unknown> })
await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
process.send({ port: typeof address === 'object' && address !== null ? address.port : 0 })

process.on('message', (message) => {
  if (message === 'stop') app.close().then(() => process.exit(0), () => process.exit(1))
})
