// One instance process of the broadcast benchmark: builds the given server module, listens on a
// free loopback port, reports it over IPC, then publishes at the rate the driver asks for.
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { now, type BroadcastBench, type PublishCommand, type PublishReport } from './broadcast-protocol.js'

const [modulePath, redisUrl = '', connectionName = 'bench'] = process.argv.slice(2)
if (modulePath === undefined || process.send === undefined) {
  console.error('usage: forked by benchmarks/scenarios/broadcast-fanout.ts: broadcast-instance.ts <server module> <redis url> <connection name>')
  process.exit(2)
}
const send = process.send.bind(process)

const { build } = await import(pathToFileURL(resolve(import.meta.dirname, modulePath)).href) as { build: BroadcastBench }
const { app, publish } = await build({ redisUrl, connectionName })
await app.listen({ host: '127.0.0.1', port: 0 })
send({ port: (app.server.address() as { port: number }).port })

/** Publishes on schedule (catching up after a late timer) without waiting for each reply. */
async function run ({ rate, seconds }: PublishCommand): Promise<PublishReport> {
  const start = performance.now()
  const total = Math.round(rate * seconds)
  const pending: Array<Promise<boolean>> = []
  let sent = 0
  while (sent < total) {
    const due = Math.min(total, Math.floor((performance.now() - start) * rate / 1000) + 1)
    for (; sent < due; sent++) pending.push(publish({ t: now(), s: sent }).catch(() => false))
    await delay(1)
  }
  const results = await Promise.all(pending)
  return { published: sent, remoteFailures: results.filter((ok) => !ok).length, seconds: (performance.now() - start) / 1000 }
}

process.on('message', (message: PublishCommand | 'stop') => {
  if (message === 'stop') {
    app.close().then(() => process.exit(0), () => process.exit(1))
    return
  }
  run(message).then((report) => send(report), (err: unknown) => {
    console.error(err)
    process.exit(1)
  })
})
