// The launchers' database for the notes feature. DATABASE_URL set: the instances use it (and
// DATABASE_REPLICA_URL), nothing is started. Not set: a private primary and streaming replica on free
// loopback ports, with the test helpers' code (initdb, pg_basebackup -R, run as the `postgres` OS
// user when we are root), stopped with us. No PostgreSQL binaries: the example runs without notes.

export interface ExampleDatabase {
  /** What the instances get in their environment: the two URLs, or nothing. */
  env: Record<string, string>
  /** One line for the launcher to print. */
  note: string
  stop: () => Promise<void>
}

export async function exampleDatabase (env: NodeJS.ProcessEnv = process.env): Promise<ExampleDatabase> {
  if ((env.DATABASE_URL ?? '') !== '' || (env.DATABASE_URL_FILE ?? '') !== '') {
    return { env: {}, note: 'scaleout example: notes use DATABASE_URL', stop: async () => {} }
  }
  try {
    // Imported only here: a deployment sets DATABASE_URL and never loads the test helpers.
    const { PostgresCluster, leaveSignalsToCaller } = await import('../test/helpers/postgres.js')
    // The launcher drains its instances on Ctrl-C and stops the servers after them.
    leaveSignalsToCaller()
    const cluster = await PostgresCluster.start(1)
    return {
      env: { DATABASE_URL: cluster.primary.url, DATABASE_REPLICA_URL: cluster.replica.url },
      note: `scaleout example: started a private PostgreSQL primary on port ${cluster.primary.port} and a replica on port ${cluster.replica.port} for the notes`,
      stop: async () => { await cluster.stop() }
    }
  } catch (err) {
    // A failed initdb names its whole command line: keep the reason only.
    const message = (err as Error).message.split('\n')[0] as string
    const why = message.includes(' failed: ') ? message.slice(message.lastIndexOf(' failed: ') + 9) : message
    return { env: {}, note: `scaleout example: notes are off: DATABASE_URL is not set and no private PostgreSQL could start (${why.trim()}); set DATABASE_URL or install PostgreSQL`, stop: async () => {} }
  }
}
