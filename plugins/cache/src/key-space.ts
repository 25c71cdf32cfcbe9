/**
 * The two key spaces of one namespace: the application's keys (`get`, `set`, `del`, `wrap`) and the
 * route cache's. Inside the cache (L1, the maps of what is in flight, the invalidation messages)
 * and in Redis, an entry is named by its space and its key: `e:<key>` for the application's,
 * `r:<key>` for a route response. An application that caches under a key a client chose can then
 * never read, overwrite or delete a route response (another user's private page), nor the reverse.
 */
export const APP = 'e:'
export const ROUTE = 'r:'

/** The id of an application key. */
export function appId (key: string): string {
  return APP + key
}

/** True for the id of a route response. */
export function isRouteId (id: string): boolean {
  return id.startsWith(ROUTE)
}

/** The key an id names within its space. */
export function keyOfId (id: string): string {
  return id.slice(APP.length)
}

/** How an id shows in a log line: an application key as `key`, as the caller wrote it; a route response's as `routeKey`. */
export function logKey (id: string): { key: string } | { routeKey: string } {
  return isRouteId(id) ? { routeKey: keyOfId(id) } : { key: keyOfId(id) }
}
