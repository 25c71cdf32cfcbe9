import fp from 'fastify-plugin'
import { sessionPlugin } from './plugin.js'

export const session = fp(sessionPlugin, { fastify: '5.x', name: '@scaleout/session' })
export default session

export {
  errors, SessionUnavailableError, SessionTooLargeError, SessionDisabledError, InvalidUserIdError, InvalidSessionKeyError,
  SessionNotLoadedError, SessionEvictionError, SessionCallbackError, SessionNotDurableError
} from './errors.js'
export type {
  SessionData, SessionKey, SessionOptions, SessionCallback, SessionCookieOptions, SessionCookie, SessionCookieOverrides, SessionInfo, SessionsApi, DestroyAllOptions, RequestSession, DecryptSession
} from './types.js'
