import t from 'tap'
import proxy from '@scaleout/proxy'
import type { ForwardedInfo } from '@scaleout/proxy'
import { startNginx } from '../helpers/nginx.js'
import { canonical } from './canonical.js'
import { generate, TRUST_LISTS, type Case } from './corpus.js'
import { rawRequest } from './raw-http.js'
import { appFor } from '../helpers/index.js'

// Real nginx's realip module is the reference: the same trust list in set_real_ip_from, the same
// socket peer (clients bind 127.0.0.N or ::1), the same bytes on the wire. Our request.ip must equal
// nginx's $remote_addr, except where we differ on purpose; those differences are listed here, each
// mismatch must be explained by one of them, and the counts are printed.
const DIFFERENCES = {
  'mapped-form': 'nginx prints IPv4-mapped IPv6 as ::ffff:a.b.c.d; we normalise it to a.b.c.d (both trust it as IPv4). Compared after canonicalising both',
  'leading-zero': 'nginx reads 010.0.0.1 as 10.0.0.1; inet_aton and many libraries read it as octal 8.0.0.1. An address two parsers read differently is garbage to us',
  'empty-octet': 'nginx reads 1..2.3 as 1.0.2.3 and 1.2.3. as 1.2.3.0; we need four octets',
  broadcast: 'nginx rejects 255.255.255.255 (its INADDR_NONE sentinel); it is a valid address',
  'ipv6-leading-colon': 'nginx skips one leading colon and reads :1::2 as 1::2; RFC 4291 has no such form',
  'bracketed-ipv4': 'nginx reads [1.2.3.4]:80 as 1.2.3.4; brackets hold IPv6 literals only (RFC 3986 IP-literal)',
  'bracket-no-port': 'nginx rejects [2001:db8::1] without a port; brackets around an IPv6 literal are unambiguous (and what RFC 7239 uses)',
  'space-separated': 'nginx also splits on a space, so "a b" is two entries; the header is a comma-separated list (RFC 9110 §5.6.1), so "a b" is one entry and not an IP',
  'tab-ows': 'nginx does not trim a tab after a comma; tab is optional whitespace in HTTP lists, so we do',
  'empty-line': 'nginx 1.22 stops at an empty X-Forwarded-For line; RFC 9110 says empty list elements are ignored'
} as const
type Difference = keyof typeof DIFFERENCES

const CASES = 640
const SEED = 20261123

/** Entries we reject and nginx accepts (our walk stops there, nginx's goes on). */
function weReject (raw: string): Difference | null {
  if (/\s/.test(raw)) return 'space-separated'
  if (/^\[\d+\.\d+\.\d+\.\d+\]:\d+$/.test(raw)) return 'bracketed-ipv4'
  if (/(^|[.:])0\d/.test(raw) && /\d\.\d/.test(raw)) return 'leading-zero'
  if (/\.\.|\.$|\.:/.test(raw)) return 'empty-octet'
  if (/^:[^:]/.test(raw)) return 'ipv6-leading-colon'
  return null
}

/** Entries nginx rejects and we accept (nginx stops one hop earlier). */
function nginxRejects (raw: string, c: Case): Difference | null {
  if (/^\[[^\]]+\]$/.test(raw)) return 'bracket-no-port'
  if (raw.includes('255.255.255.255')) return 'broadcast'
  if (c.lines.some((line) => line.includes(`\t${raw}`))) return 'tab-ows'
  return null
}

interface Ours { ip: string, forwarded: ForwardedInfo }

function explain (c: Case, ours: Ours, nginxIp: string): Difference | null {
  const { chain, chosen, stop } = ours.forwarded
  if (stop === 'invalid') {
    const reason = weReject((chain[chosen + 1] as { raw: string }).raw)
    if (reason !== null) return reason
  }
  for (let j = 0; j < chosen; j++) {
    const address = chain[j]?.address
    if (address == null || canonical(address) !== nginxIp) continue
    const reason = nginxRejects((chain[j + 1] as { raw: string }).raw, c)
    if (reason !== null) return reason
    if (c.lines.some((line) => line.trim() === '')) return 'empty-line'
  }
  return null
}

t.test(`request.ip equals nginx realip's $remote_addr over ${CASES} generated cases`, async (t) => {
  const nginx = await startNginx({
    ports: TRUST_LISTS.length,
    config: ({ ports }) => `http {
      ${TRUST_LISTS.map((list, i) => `server {
        listen 127.0.0.1:${ports[i] as number};
        listen [::1]:${ports[i] as number};
        ${list.map((range) => `set_real_ip_from ${range};`).join(' ')}
        real_ip_header X-Forwarded-For;
        real_ip_recursive on;
        location / { default_type text/plain; return 200 "$remote_addr"; }
      }`).join('\n')}
    }`
  })
  t.teardown(nginx.stop)

  const app = appFor(t)
  TRUST_LISTS.forEach((list, i) => {
    app.register(async (scope) => {
      await scope.register(proxy, { trust: list })
      scope.get(`/t${i}`, async (request) => ({ ip: request.ip, forwarded: request.forwarded }))
    })
  })
  await app.listen({ host: '::', port: 0 })
  const appPort = (app.server.address() as { port: number }).port

  const cases = generate(CASES, SEED)
  const counts: Record<string, number> = {}
  const unexplained: unknown[] = []
  let equal = 0
  let mappedForm = 0

  async function run (c: Case): Promise<void> {
    const host = c.peer === '::1' ? '::1' : '127.0.0.1'
    const headers = c.lines.map((line): [string, string] => ['X-Forwarded-For', line])
    const [fromNginx, fromApp] = await Promise.all([
      rawRequest({ host, port: nginx.ports[c.list] as number, localAddress: c.peer, path: '/', headers }),
      rawRequest({ host, port: appPort, localAddress: c.peer, path: `/t${c.list}`, headers })
    ])
    if (fromNginx.status !== 200 || fromApp.status !== 200) {
      unexplained.push({ case: c, nginx: fromNginx, app: fromApp })
      return
    }
    const ours = JSON.parse(fromApp.body) as Ours
    const nginxIp = canonical(fromNginx.body)
    if (fromNginx.body !== nginxIp && fromNginx.body.startsWith('::ffff:')) mappedForm++
    if (canonical(ours.ip) === nginxIp) {
      equal++
      return
    }
    const reason = explain(c, ours, nginxIp)
    if (reason === null) unexplained.push({ case: c, nginx: fromNginx.body, ours })
    else counts[reason] = (counts[reason] ?? 0) + 1
  }

  for (let i = 0; i < cases.length; i += 8) await Promise.all(cases.slice(i, i + 8).map(run))

  t.same(unexplained, [], 'every mismatch is one of the listed deliberate differences')
  t.ok(equal >= CASES * 0.85, `at least 85% of cases agree exactly (${equal} of ${CASES})`)
  const spoofs = cases.filter((c) => c.lines.join(',').split(',').length > 1).length
  t.ok(spoofs > 200, `the corpus has multi-hop headers (${spoofs})`)
  t.comment(`agree: ${equal}; deliberate differences: ${JSON.stringify(counts)}; nginx answers in ::ffff: form that agree after canonicalising: ${mappedForm}`)
  for (const [name, count] of Object.entries(counts)) t.comment(`${name} (${count}): ${DIFFERENCES[name as Difference]}`)
})
