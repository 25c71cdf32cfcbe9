import t from 'tap'
import { call } from './client.js'
import { startHaproxy, startNginx } from './balancers.js'
import { startStack } from './stack.js'
import { addressIn, ATTEMPTS, CLIENT, MODES, reportingApp, send, type Attempt, type Seen } from '../test/proxy/injection-drill.js'

interface WhoAmI { ip: string, protocol: string, host: string, instance: string }

// Drill 6: the instances trust only the balancer (127.0.0.1). The test client connects from
// another loopback address, so its address is the one the balancer forwards, whatever it claims.
for (const balancer of ['nginx', 'haproxy'] as const) {
  t.test(`behind ${balancer} the example sees the real client, and forged headers change nothing`, async (t) => {
    const stack = await startStack(balancer)
    t.teardown(stack.stop)

    const plain = JSON.parse((await call(stack.lb.url, '/api/whoami', { localAddress: CLIENT })).body) as WhoAmI
    t.same([plain.ip, plain.protocol, plain.host], [CLIENT, 'http', `127.0.0.1:${stack.lb.port}`])

    const forgeries: Array<Record<string, string>> = [
      { 'x-forwarded-for': '1.2.3.4' },
      { 'x-forwarded-for': '1.2.3.4, 127.0.0.1' },
      { 'x-real-ip': '5.6.7.8' },
      { forwarded: 'for=9.9.9.9' },
      { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'https' },
      { 'x-forwarded-host': 'evil.example', 'x-forwarded-port': '443' },
      { forwarded: 'for=127.0.0.1;proto=https;host=evil.example' }
    ]
    for (const headers of forgeries) {
      const answer = JSON.parse((await call(stack.lb.url, '/api/whoami', { localAddress: CLIENT, headers })).body) as WhoAmI
      t.same([answer.ip, answer.protocol, answer.host], [CLIENT, 'http', `127.0.0.1:${stack.lb.port}`], `forged ${JSON.stringify(headers)} changes neither address, protocol nor host`)
    }
    for (const attempt of ATTEMPTS) {
      const answer = await send(stack.lb.port, '/api/whoami', attempt)
      const seen = JSON.parse(answer.body) as WhoAmI
      t.same([answer.status, seen.ip, seen.protocol, seen.host], [200, CLIENT, 'http', attempt.expectedHost], attempt.what)
      // The example keeps @scaleout/health's defaults: nobody gets the report through the balancer.
      // (The status itself may read warn on a loaded machine: the event-loop check.)
      const details = await send(stack.lb.port, '/health', attempt)
      t.same([details.status, Object.keys(JSON.parse(details.body) as object)], [200, ['status']], `${attempt.what}: no health details`)
    }

    // Straight to an instance (not through the balancer) the forged header is not even read.
    const direct = JSON.parse((await call(stack.instances[0]!.url, '/api/whoami', { localAddress: CLIENT, headers: { 'x-forwarded-for': '1.2.3.4' } })).body) as WhoAmI
    t.equal(direct.ip, CLIENT)
  })
}

// Every header mode, and allowedHosts, behind the shipped configs: the balancer's own Forwarded
// line must survive a Host written to break it.
const withAllowedHosts: Attempt[] = [
  { what: 'an allowed host', host: 'shop.example.com', headers: [], expectedHost: 'shop.example.com' },
  { what: 'a host outside the list', host: 'evil.example', headers: [], expectedHost: '' },
  { what: 'an allowed Host with a forged forwarded host', host: 'shop.example.com', headers: [['X-Forwarded-Host', 'evil.example'], ['Forwarded', 'for=1.2.3.4;host=evil.example']], expectedHost: 'shop.example.com' },
  { what: 'a host outside the list with a forged allowed one', host: 'evil.example', headers: [['X-Forwarded-Host', 'shop.example.com'], ['Forwarded', 'for=1.2.3.4;host=shop.example.com']], expectedHost: '' }
]

for (const balancer of ['nginx', 'haproxy'] as const) {
  for (const allowedHosts of [undefined, ['shop.example.com']]) {
    t.test(`the shipped ${balancer} config, every header mode${allowedHosts === undefined ? '' : ', allowedHosts'}: injection changes nothing`, async (t) => {
      const app = await reportingApp(allowedHosts === undefined ? {} : { allowedHosts })
      t.teardown(async () => await app.close())
      await app.listen({ host: '127.0.0.1', port: 0 })
      const port = (app.server.address() as { port: number }).port
      const lb = balancer === 'nginx' ? await startNginx([port, port, port]) : await startHaproxy([port, port, port])
      t.teardown(lb.stop)
      for (const attempt of allowedHosts === undefined ? ATTEMPTS : withAllowedHosts) {
        for (const mode of MODES) {
          const answer = await send(lb.port, `/${mode}`, attempt)
          const seen = JSON.parse(answer.body) as Seen
          t.same([answer.status, seen.ip, seen.protocol, seen.host], [200, addressIn(mode), 'http', attempt.expectedHost], `${attempt.what} (${mode})`)
          t.not(seen.stop, 'refused', 'the balancer\'s header is always well formed')
        }
      }
    })
  }
}
