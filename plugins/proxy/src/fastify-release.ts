import { createRequire } from 'node:module'
import { UnsafeFastifyError } from './errors.js'

/**
 * The version of the Fastify this package resolves (its peer dependency, the app's Fastify in an
 * ordinary install); undefined when none is found from `from`.
 */
export function installedFastify (from: string = import.meta.url): string | undefined {
  try {
    return (createRequire(from)('fastify/package.json') as { version: string }).version
  } catch {
    return undefined
  }
}

// Fastify 5.0.0 to 5.8.2 read X-Forwarded-Proto (and X-Forwarded-Host) from any peer once
// `trustProxy` was set, without asking the trust function about the socket peer (CVE-2026-3635,
// fixed in 5.8.3). A pre-release of 5.8.3 may not have the fix either.
const RELEASE = /^(\d+)\.(\d+)\.(\d+)(-)?/

/** Throws SCALEOUT_ERR_PROXY_UNSAFE_FASTIFY for a Fastify whose trustProxy trusts any peer's protocol and host. */
export function checkTrustProxyRelease (version: string | undefined): void {
  const match = version === undefined ? null : RELEASE.exec(version)
  if (match === null) return
  const [major, minor, patch] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const fixed = major > 5 || minor > 8 || (minor === 8 && (patch > 3 || (patch === 3 && match[4] === undefined)))
  if (major === 5 && !fixed) throw new UnsafeFastifyError(version)
}
