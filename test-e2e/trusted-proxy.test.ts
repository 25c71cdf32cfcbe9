import t from 'tap'
import { call } from './client.js'
import { startStack } from './stack.js'

interface WhoAmI { ip: string, protocol: string, host: string, instance: string }

// Drill 6: the instances trust only the balancer (127.0.0.1). The test client connects from
// another loopback address, so its address is the one nginx forwards, whatever it claims itself.
t.test('behind nginx the service sees the real client, and forged headers change nothing', async (t) => {
  const stack = await startStack('nginx')
  t.teardown(stack.stop)
  const client = '127.0.0.9'

  const plain = JSON.parse((await call(stack.lb.url, '/api/whoami', { localAddress: client })).body) as WhoAmI
  t.equal(plain.ip, client)
  t.equal(plain.protocol, 'http')
  t.equal(plain.host, `127.0.0.1:${stack.lb.port}`)

  const forgeries: Array<Record<string, string>> = [
    { 'x-forwarded-for': '1.2.3.4' },
    { 'x-forwarded-for': '1.2.3.4, 127.0.0.1' },
    { 'x-real-ip': '5.6.7.8' },
    { forwarded: 'for=9.9.9.9' },
    { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'https' }
  ]
  for (const headers of forgeries) {
    const answer = JSON.parse((await call(stack.lb.url, '/api/whoami', { localAddress: client, headers })).body) as WhoAmI
    t.equal(answer.ip, client, `forged ${JSON.stringify(headers)} does not change the client address`)
    t.equal(answer.protocol, 'http', 'nor the protocol')
  }

  // Straight to an instance (not through the balancer) the forged header is not even read.
  const direct = JSON.parse((await call(stack.instances[0]!.url, '/api/whoami', { localAddress: client, headers: { 'x-forwarded-for': '1.2.3.4' } })).body) as WhoAmI
  t.equal(direct.ip, client)
})
