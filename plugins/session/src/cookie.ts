import { isSecureCookie, setCookie, type CookieAttributes } from '@scaleout/core'
import type { FastifyRequest } from 'fastify'
import type { CookieSettings } from './options.js'

// The Cookie header is read with core's parser rather than through @fastify/cookie, so the plugin
// works the same whether or not that plugin is registered, and in whichever order.

/** Whether the cookie is Secure on this request (`'auto'` follows request.protocol, so trustProxy counts). */
export function isSecure (settings: CookieAttributes, request: FastifyRequest): boolean {
  return isSecureCookie(settings, request.protocol)
}

export function cookieName (settings: CookieSettings, secure: boolean): string {
  return secure ? settings.securedName : settings.name
}

/**
 * A Set-Cookie value carrying `value`, or clearing the cookie when `value` is null. The name is the
 * plugin's (`secure`: whether the plugin's cookie is Secure on this request, which picks it); the
 * attributes are the session's, with its Max-Age (milliseconds) and Expires.
 */
export function serialize (settings: CookieSettings, secure: boolean, value: string | null, attributes: CookieAttributes, request: FastifyRequest, maxAge?: number, expires?: Date): string {
  return setCookie(cookieName(settings, secure), value, attributes, isSecure(attributes, request), maxAge === undefined ? undefined : Math.floor(maxAge / 1000), expires)
}
