// A benchmark server in a process of its own (serve.ts runs it and reports its port), so the
// server and autocannon never share a core's event loop.
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'

const here = import.meta.dirname

export interface ServerProcess<H> { child: ChildProcess, url: string, headers: H }

/** Starts `server` with `options`, then runs `prepare` (a login, a write) for the request headers. */
export async function startServerProcess<H> (name: string, server: string, options: Record<string, unknown>, env: NodeJS.ProcessEnv, prepare: (url: string) => Promise<H>): Promise<ServerProcess<H>> {
  const child = fork(join(here, 'serve.ts'), [server, JSON.stringify(options)], {
    // The packages as published (their built dist, which `npm run bench` builds first), as users
    // run them; tsx only for the benchmark's own TypeScript servers.
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env, NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const [message] = await Promise.race([
    once(child, 'message') as Promise<[{ port: number }]>,
    once(child, 'exit').then(([code]) => { throw new Error(`${name}: server exited with ${String(code)} before listening`) })
  ])
  const url = `http://127.0.0.1:${message.port}`
  try {
    return { child, url, headers: await prepare(url) }
  } catch (err) {
    await stopServerProcess(child)
    throw err
  }
}

/** Asks the server to stop, and kills it if it has not within 5 s. */
export async function stopServerProcess (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.send('stop')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}
