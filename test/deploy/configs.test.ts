import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { DEFAULT_PATHS } from '@scaleout/health'

// The shipped deploy/ files must agree with the health plugin's defaults and the example's port,
// and the real nginx and HAProxy must accept them as they are.
const deploy = join(import.meta.dirname, '..', '..', 'deploy')
const read = (file: string): string => readFileSync(join(deploy, file), 'utf8')
// @scaleout/health defaults (plugins/health/README.md): drainDelay and drainDeadline.
const DRAIN_DELAY_S = 10
const DRAIN_DEADLINE_S = 25
const EXAMPLE_PORT = 3000

t.test('nginx -t accepts deploy/nginx.conf', async (t) => {
  const prefix = mkdtempSync(join(tmpdir(), 'scaleout-nginx-t-'))
  mkdirSync(join(prefix, 'tmp'))
  t.teardown(() => rmSync(prefix, { recursive: true, force: true }))
  const result = spawnSync('/usr/sbin/nginx', ['-t', '-p', prefix, '-c', join(deploy, 'nginx.conf'), '-e', 'stderr'], { encoding: 'utf8' })
  t.equal(result.status, 0, result.stderr)
  t.match(result.stderr, /syntax is ok/)
  const conf = read('nginx.conf')
  t.match(conf, /least_conn;/)
  for (const header of ['X-Real-IP', 'X-Forwarded-For', 'X-Forwarded-Proto', 'Host', 'Upgrade', 'Connection']) {
    t.match(conf, new RegExp(`proxy_set_header ${header} `), `sets ${header}`)
  }
  t.match(conf, /location \/health \{[^}]*proxy_read_timeout 2s;/, 'a short-timeout /health location')
})

// Every header @scaleout/proxy may read is written by the shipped balancers, never passed through
// from the client. Before, nginx passed the client's own X-Forwarded-Host (and Forwarded) through.
const FORWARDING = ['X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'X-Forwarded-Port', 'X-Real-IP', 'Forwarded', 'CF-Connecting-IP', 'True-Client-IP']

t.test('the shipped nginx.conf sets or clears every forwarding header, and never puts client text in Forwarded unchecked', async (t) => {
  const conf = read('nginx.conf').replace(/#.*$/gm, '')
  for (const header of FORWARDING) {
    t.match(conf, new RegExp(`\\n\\s*proxy_set_header ${header} \\S`), `sets or clears ${header}`)
  }
  t.notMatch(conf, /\$proxy_add_x_forwarded_for|\$http_x_forwarded|\$http_forwarded|\$http_x_real_ip/, 'passes no client value of those headers on')
  const forwarded = /proxy_set_header Forwarded (.*);/.exec(conf)?.[1] ?? ''
  t.notMatch(forwarded, /\$host|\$http_host|host=/, 'no host in Forwarded: nginx would paste it unescaped')
  t.match(conf, /\n\s*proxy_set_header X-Forwarded-Host "";/, 'X-Forwarded-Host cleared: a copy of the Host would be read as a list')
  t.notMatch(conf, /location[^{]*\{[^}]*proxy_set_header/, 'no location replaces the server-level headers (nginx would drop them all there)')
})

t.test('the shipped haproxy.cfg sets or deletes every forwarding header, and never appends to the client\'s', async (t) => {
  const cfg = read('haproxy.cfg').replace(/#.*$/gm, '')
  for (const header of FORWARDING) {
    t.match(cfg, new RegExp(`http-request (set-header|del-header) ${header}\\b`), `sets or deletes ${header}`)
  }
  t.notMatch(cfg, /^\s*option forwardfor/m, 'option forwardfor appends to the client\'s X-Forwarded-For')
  t.notMatch(cfg, /req\.hdr\(host\)/, 'req.hdr() splits the Host at commas; the full line is req.fhdr()')
  t.notMatch(/set-header Forwarded (.*)/.exec(cfg)?.[1] ?? '', /host/i, 'no host in Forwarded: HAProxy would paste it unescaped')
  t.match(cfg, /http-request del-header X-Forwarded-Host\n/, 'X-Forwarded-Host deleted: a copy of the Host would be read as a list')
  t.notMatch(cfg, /set-header X-Forwarded-Host/, 'and never set')
})

t.test('haproxy -c accepts deploy/haproxy.cfg, which checks readiness on the default path', async (t) => {
  const result = spawnSync('haproxy', ['-c', '-f', join(deploy, 'haproxy.cfg')], { encoding: 'utf8' })
  t.equal(result.status, 0, result.stdout + result.stderr)
  const cfg = read('haproxy.cfg')
  t.match(cfg, new RegExp(`option httpchk GET ${DEFAULT_PATHS.ready}\\n`))
  t.match(cfg, /http-check expect status 200/)
  const [, inter, fall, rise] = /default-server inter (\d+)s fall (\d+) rise (\d+)/.exec(cfg) ?? []
  t.ok(Number(inter) * Number(fall) < DRAIN_DELAY_S, `out of rotation (inter ${inter}s x fall ${fall}) before the drain delay ends`)
  t.ok(Number(rise) >= 2)
  t.match(cfg, /retry-on conn-failure empty-response response-timeout 503/)
  t.match(cfg, /http-request disable-l7-retry unless idempotent/)
})

interface Probe { httpGet: { path: string, port: string }, periodSeconds: number, failureThreshold: number }

t.test('the Kubernetes manifests probe the health plugin\'s default paths on the example\'s port', async (t) => {
  const deployment = parse(read('kubernetes/deployment.yaml'))
  const pod = deployment.spec.template.spec
  const container = pod.containers[0]
  t.same(container.ports, [{ name: 'http', containerPort: EXAMPLE_PORT }])
  const probes = container as { livenessProbe: Probe, readinessProbe: Probe, startupProbe: Probe }
  t.same(probes.livenessProbe.httpGet, { path: DEFAULT_PATHS.live, port: 'http' })
  t.same(probes.readinessProbe.httpGet, { path: DEFAULT_PATHS.ready, port: 'http' })
  t.same(probes.startupProbe.httpGet, { path: DEFAULT_PATHS.startup, port: 'http' })
  t.ok(probes.readinessProbe.periodSeconds * probes.readinessProbe.failureThreshold < DRAIN_DELAY_S, 'readiness notices a drain before the server closes')
  const preStop = Number(container.lifecycle.preStop.exec.command[1])
  t.ok(pod.terminationGracePeriodSeconds > preStop + DRAIN_DEADLINE_S, 'grace period outlasts preStop + drain deadline')
  t.ok(pod.terminationGracePeriodSeconds > DRAIN_DELAY_S + DRAIN_DEADLINE_S, 'grace period larger than drain delay plus deadline')
  t.ok(container.resources.requests.cpu !== undefined && container.resources.limits.memory !== undefined)

  const service = parse(read('kubernetes/service.yaml'))
  t.equal(service.spec.ports[0].targetPort, 'http')
  t.same(service.spec.selector, deployment.spec.selector.matchLabels)
  const hpa = parse(read('kubernetes/hpa.yaml'))
  t.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name)
  t.ok(hpa.spec.minReplicas >= 2)
})

t.test('the Swarm stack checks liveness on the example\'s port and outlasts the drain', async (t) => {
  const docs = parseAllDocuments(read('docker-compose.swarm.yml'))
  t.equal(docs.length, 1)
  const app = docs[0]!.toJS().services.app
  t.match(app.healthcheck.test.join(' '), `http://127.0.0.1:${EXAMPLE_PORT}${DEFAULT_PATHS.live}`)
  t.same(app.ports, [`${EXAMPLE_PORT}:${EXAMPLE_PORT}`])
  t.ok(Number(/^(\d+)s$/.exec(app.stop_grace_period)?.[1]) > DRAIN_DELAY_S + DRAIN_DEADLINE_S)
  t.equal(app.deploy.replicas, 3)
  const dockerfile = read('Dockerfile')
  t.match(dockerfile, `EXPOSE ${EXAMPLE_PORT}`)
  t.match(dockerfile, /CMD \["node", "--import", "tsx", "examples\/instance.ts"\]/)
})

interface EnvVar { name: string, value?: string, valueFrom?: { secretKeyRef?: { name: string, key: string, optional?: boolean } } }

t.test('the Kubernetes Deployment passes both database URLs from a Secret, never as literal values', async (t) => {
  const container = parse(read('kubernetes/deployment.yaml')).spec.template.spec.containers[0] as { env: EnvVar[] }
  const env = new Map(container.env.map((e) => [e.name, e]))
  t.same(env.get('DATABASE_URL'), { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'scaleout-database', key: 'url', optional: true } } })
  t.same(env.get('DATABASE_REPLICA_URL'), { name: 'DATABASE_REPLICA_URL', valueFrom: { secretKeyRef: { name: 'scaleout-database', key: 'replica-url', optional: true } } })
  t.notMatch(read('kubernetes/deployment.yaml'), /postgres(ql)?:\/\/[^.]/, 'no URL in the manifest (only in the comment that shows the command)')
})

t.test('the Swarm stack passes both database URLs as secrets, read from the files Swarm mounts', async (t) => {
  const stack = parseAllDocuments(read('docker-compose.swarm.yml'))[0]!.toJS() as {
    services: { app: { environment: Record<string, string>, secrets: string[] } }
    secrets: Record<string, { external: boolean }>
  }
  const app = stack.services.app
  t.same(app.secrets, ['database_url', 'database_replica_url'])
  t.equal(app.environment.DATABASE_URL_FILE, '/run/secrets/database_url')
  t.equal(app.environment.DATABASE_REPLICA_URL_FILE, '/run/secrets/database_replica_url')
  t.equal(app.environment.DATABASE_URL, undefined)
  t.equal(app.environment.DATABASE_REPLICA_URL, undefined)
  t.same(stack.secrets, { database_url: { external: true }, database_replica_url: { external: true } })
})
