import fp from 'fastify-plugin'
import { sessionPlugin } from './plugin.js'

export const session = fp(sessionPlugin, { fastify: '5.x', name: '@scaleout/session' })
export default session

export { SessionUnavailableError, SessionTooLargeError, SessionDisabledError, InvalidUserIdError, InvalidSessionKeyError, SessionEvictionError } from './errors.js'
export type {
  SessionData, SessionKey, SessionOptions, SessionCookieOptions, SessionInfo, SessionsApi, DestroyAllOptions, RequestSession
} from './types.js'
