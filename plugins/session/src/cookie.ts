import { isSecureCookie, setCookie } from '@scaleout/core'
import type { FastifyRequest } from 'fastify'
import type { CookieSettings } from './options.js'

// The Cookie header is read with core's parser rather than through @fastify/cookie, so the plugin
// works the same whether or not that plugin is registered, and in whichever order.

/** Whether the cookie is Secure on this request (`'auto'` follows request.protocol, so trustProxy counts). */
export function isSecure (settings: CookieSettings, request: FastifyRequest): boolean {
  return isSecureCookie(settings, request.protocol)
}

export function cookieName (settings: CookieSettings, secure: boolean): string {
  return secure ? settings.securedName : settings.name
}

/** A Set-Cookie value carrying `value`, or clearing the cookie when `value` is null. */
export function serialize (settings: CookieSettings, secure: boolean, value: string | null): string {
  return setCookie(cookieName(settings, secure), value, settings, secure, settings.maxAgeSeconds)
}
