import { request as httpRequest } from 'node:http'

export interface Answer {
  status: number
  instance: string | undefined
  body: string
  headers: Record<string, string | string[] | undefined>
}

export interface CallOptions {
  method?: string
  cookie?: string
  body?: unknown
  headers?: Record<string, string>
  /** Connect from this loopback address (the whole 127.0.0.0/8 is local on Linux). */
  localAddress?: string
  timeoutMs?: number
}

/** One HTTP request on a fresh connection, so the balancer picks an instance for each. */
export async function call (baseUrl: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const url = new URL(path, baseUrl)
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
  return await new Promise((resolve, reject) => {
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: options.method ?? 'GET',
      agent: false,
      localAddress: options.localAddress,
      timeout: options.timeoutMs ?? 10_000,
      headers: {
        ...(options.cookie !== undefined ? { cookie: options.cookie } : {}),
        ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers
      }
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, instance: res.headers['x-served-by'] as string | undefined, body, headers: res.headers }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`timed out: ${options.method ?? 'GET'} ${path}`)))
    req.on('error', reject)
    req.end(payload)
  })
}

/** Logs in through `baseUrl` and returns the session cookie (name=value). */
export async function login (baseUrl: string, name: string): Promise<string> {
  const answer = await call(baseUrl, '/login', { method: 'POST', body: { name } })
  if (answer.status !== 200) throw new Error(`login failed: ${answer.status} ${answer.body}`)
  const setCookie = answer.headers['set-cookie']
  const first = Array.isArray(setCookie) ? setCookie[0] : setCookie
  if (first === undefined) throw new Error('login set no cookie')
  return first.split(';')[0] as string
}

export interface StreamReport {
  sent: number
  statuses: Record<string, number>
  failures: Array<{ status: number, body: string, error?: string }>
  instances: Record<string, number>
  bodies: string[]
}

/**
 * A steady stream of requests from `concurrency` loops until `stop()` or until `maxRequests` or
 * `maxMs` is reached: bounded in count and time, loopback only.
 */
export function stream (baseUrl: string, path: string, options: CallOptions & { concurrency?: number, maxRequests?: number, maxMs?: number, pauseMs?: number } = {}): { stop: () => Promise<StreamReport> } {
  const report: StreamReport = { sent: 0, statuses: {}, failures: [], instances: {}, bodies: [] }
  const { concurrency = 4, maxRequests = 5000, maxMs = 60_000, pauseMs = 5 } = options
  const deadline = Date.now() + maxMs
  const state = { stopped: false }
  const loop = async (): Promise<void> => {
    while (!state.stopped && report.sent < maxRequests && Date.now() < deadline) {
      report.sent++
      try {
        const answer = await call(baseUrl, path, options)
        report.statuses[answer.status] = (report.statuses[answer.status] ?? 0) + 1
        if (answer.instance !== undefined) report.instances[answer.instance] = (report.instances[answer.instance] ?? 0) + 1
        if (answer.status >= 400) report.failures.push({ status: answer.status, body: answer.body.slice(0, 200) })
        else report.bodies.push(answer.body)
      } catch (err) {
        report.statuses.error = (report.statuses.error ?? 0) + 1
        report.failures.push({ status: 0, body: '', error: (err as Error).message })
      }
      await new Promise((resolve) => setTimeout(resolve, pauseMs))
    }
  }
  const loops = Array.from({ length: concurrency }, loop)
  return {
    stop: async () => {
      state.stopped = true
      await Promise.all(loops)
      return report
    }
  }
}
