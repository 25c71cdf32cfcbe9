// One instance of the example service: `REDIS_URL=redis://... PORT=3001 tsx examples/instance.ts`.
import { buildApp } from './app.js'
import { readConfig } from './config.js'

const config = readConfig()
const app = await buildApp(config)
await app.listen({ host: config.host, port: config.port })
