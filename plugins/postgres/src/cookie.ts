import { isSecureCookie, setCookie } from '@scaleout/core'
import type { FastifyRequest } from 'fastify'
import type { CookieSettings } from './options.js'

/** The Set-Cookie value carrying a read-your-writes token. */
export function serialize (settings: CookieSettings, request: FastifyRequest, token: string): string {
  return setCookie(settings.name, token, settings, isSecureCookie(settings, request.protocol), settings.maxAgeSeconds)
}
