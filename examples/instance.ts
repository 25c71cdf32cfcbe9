// One instance of the example service: `REDIS_URL=redis://... PORT=3001 tsx examples/instance.ts`.
import { buildApp } from './app.js'
import { readConfig } from './config.js'
import { listenOrExit } from './listen.js'

const config = readConfig()
const app = await buildApp(config)
if (config.launched) {
  // Under a launcher one Ctrl-C reaches the instance twice: the terminal signals its whole process
  // group, and the launcher passes the signal on (it must, for a signal sent to it alone). Both join
  // the one drain, where the health plugin's own listener would take the second as "exit now".
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { app.health.drain(signal).catch(() => process.exit(1)) })
}
await listenOrExit(app, config)
