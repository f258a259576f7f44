/**
 * The PostgreSQL connection pool as a scoped service. `query` runs on the ambient transaction's
 * connection when one is set for the current fiber (see `transaction`), else on the pool, so a store
 * joins the caller's unit of work without knowing about it.
 */
import { Context, Data, Duration, Effect, Exit, FiberRef, Layer, Option } from "effect"
import pg from "pg"

/** A failed pg promise; each store maps it once into its port's error with the operation's name. */
export class PgError extends Data.TaggedError("PgError")<{ readonly cause: unknown }> {}

/** BEGIN, COMMIT or ROLLBACK (or checking out the connection for them) failed. */
export class PgTransactionError extends Data.TaggedError("PgTransactionError")<{
  readonly operation: "begin" | "commit" | "rollback"
  readonly cause: unknown
}> {}

/**
 * The transaction the current fiber runs in: its connection, and the lock that serializes its
 * statements when the connection is not pipelined (null when it is).
 */
interface Ambient {
  readonly client: pg.PoolClient
  readonly lock: Effect.Semaphore | null
}

export interface PgClientConfig {
  readonly connectionString: string
  readonly max?: number
  /**
   * The server ends a session left idle inside a transaction this long (ms), releasing its locks.
   * A process frozen mid-transaction (SIGSTOP, a long GC, a paused VM) must not hold the rows of
   * the customers it owned while the new owner takes over: its late COMMIT then fails, and its
   * batch is recomputed. Our transactions never wait on anything but their own statements.
   */
  readonly idleInTransactionMs?: number
  /**
   * Pipeline mode (default on): statements started concurrently inside a unit of work are written
   * to the connection at once instead of each waiting for the previous one's answer. PostgreSQL
   * still runs them one after another, in the order they were sent; what is saved is the round trip
   * (and the event-loop turn) between them. Off: one statement at a time, as pg sends them.
   */
  readonly pipeline?: boolean
}

export interface PgClientService {
  readonly pool: pg.Pool
  readonly query: <R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<pg.QueryResult<R>, PgError>
  /**
   * Runs `effect` in one transaction on one connection. Inside an ambient transaction it joins it,
   * unless `fresh` (then it always opens its own, e.g. for `SET LOCAL ROLE`).
   */
  readonly transaction: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: TransactionOptions
  ) => Effect.Effect<A, E | PgTransactionError, R>
  /**
   * `transaction` whose own failures (checkout, BEGIN, COMMIT) are built as the caller's error, the
   * way `storeQuery` builds a statement's; the effect's errors pass through unchanged.
   */
  readonly transactionAs: <E2>(
    toError: (error: PgTransactionError) => E2,
    options?: TransactionOptions
  ) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | E2, R>
}

export interface TransactionOptions {
  /** Always open a transaction of its own, even inside an ambient one (e.g. for `SET LOCAL ROLE`). */
  readonly fresh?: boolean
}

export class PgClient extends Context.Tag("turnvault/PgClient")<PgClient, PgClientService>() {}

const ignoreClientError = () => {}

const acquirePool = (config: PgClientConfig) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const pool = new pg.Pool({
        connectionString: config.connectionString,
        max: config.max ?? 10,
        idle_in_transaction_session_timeout: config.idleInTransactionMs ?? 10_000,
        pipeline: config.pipeline ?? true
      })
      // An idle client's error (server restart) must not crash the process; the next checkout fails typed.
      pool.on("error", () => {})
      // pg-pool listens for a client's errors only while it is idle or inside pool.query: a backend
      // terminated at any other moment (checked out between two statements, or just given back
      // in pipeline mode: the fault suite's kills right after COMMIT found it) emitted an 'error'
      // nobody listened to, which crashed the process. Every client gets a listener of its own
      // for its whole life; the error surfaces as the next statement's typed failure instead.
      pool.on("connect", (client) => client.on("error", ignoreClientError))
      return pool
    }),
    (pool) => Effect.promise(() => pool.end()).pipe(Effect.timeout(Duration.seconds(10)), Effect.ignore)
  )

export const make = (config: PgClientConfig) =>
  Effect.gen(function* () {
    const pool = yield* acquirePool(config)
    const ambient = yield* FiberRef.make<Option.Option<Ambient>>(Option.none())

    /**
     * On the ambient connection a statement, once sent, is not interrupted halfway, so the rollback
     * that follows an interruption comes after it. Pipelined, pg writes concurrent statements in
     * the order they are started and the server answers them in that order; otherwise they wait
     * for the lock's permit, one at a time (pg@9 drops its own queue).
     */
    const query = <R extends pg.QueryResultRow = pg.QueryResultRow>(
      text: string,
      params: ReadonlyArray<unknown> = []
    ) =>
      Effect.flatMap(FiberRef.get(ambient), (current) => {
        const run = (executor: pg.Pool | pg.PoolClient) =>
          Effect.tryPromise({
            try: () => executor.query<R>(text, params as Array<unknown>),
            catch: (cause) => new PgError({ cause })
          })
        return Option.match(current, {
          onNone: () => run(pool),
          onSome: ({ client, lock }) =>
            lock === null
              ? Effect.uninterruptible(run(client))
              : lock.withPermits(1)(Effect.uninterruptible(run(client)))
        })
      })

    const onClient = (client: pg.PoolClient, text: string, operation: PgTransactionError["operation"]) =>
      Effect.tryPromise({
        try: () => client.query(text),
        catch: (cause) => new PgTransactionError({ operation, cause })
      })

    /** COMMIT of an aborted transaction answers ROLLBACK without an error: treat it as a failure. */
    const commit = (client: pg.PoolClient) =>
      Effect.flatMap(onClient(client, "COMMIT", "commit"), (result) =>
        result.command === "ROLLBACK"
          ? Effect.fail(new PgTransactionError({ operation: "commit", cause: "transaction was aborted" }))
          : Effect.void
      )

    /**
     * Back to the pool (or destroyed). A destroyed client can still emit the server's termination
     * error after release: the listener every client gets on connect takes it.
     */
    const release = (client: pg.PoolClient, destroy = false) => client.release(destroy)

    /** Rolls back a failed or interrupted unit; a connection that cannot roll back is destroyed. */
    const rollbackAndRelease = (client: pg.PoolClient) =>
      onClient(client, "ROLLBACK", "rollback").pipe(
        Effect.match({ onFailure: () => release(client, true), onSuccess: () => release(client) })
      )

    const runOn = <A, E, R, E2>(effect: Effect.Effect<A, E, R>, toError: (error: PgTransactionError) => E2) =>
      Effect.acquireUseRelease(
        Effect.tryPromise({
          try: async () => {
            return await pool.connect()
          },
          catch: (cause) => toError(new PgTransactionError({ operation: "begin", cause }))
        }),
        (client) =>
          onClient(client, "BEGIN", "begin").pipe(
            Effect.mapError(toError),
            Effect.zipRight(config.pipeline === false ? Effect.makeSemaphore(1) : Effect.succeed(null)),
            Effect.flatMap((lock) => Effect.locally(effect, ambient, Option.some({ client, lock }))),
            Effect.tap(() => Effect.mapError(commit(client), toError))
          ),
        (client, exit) =>
          Exit.isSuccess(exit) ? Effect.sync(() => release(client)) : rollbackAndRelease(client)
      )

    const transactionAs =
      <E2>(toError: (error: PgTransactionError) => E2, options?: TransactionOptions) =>
      <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.flatMap(FiberRef.get(ambient), (client) =>
          Option.isSome(client) && options?.fresh !== true ? effect : runOn(effect, toError)
        )

    const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>, options?: TransactionOptions) =>
      transactionAs((error: PgTransactionError) => error, options)(effect)

    return PgClient.of({ pool, query, transaction, transactionAs })
  })

export const layer = (config: PgClientConfig): Layer.Layer<PgClient> => Layer.scoped(PgClient, make(config))

/**
 * A store's query function: statements named by operation, failures typed as the store's own
 * error (each port has one tagged error per concern, built here from the operation and cause).
 */
export const storeQuery =
  <E>(pg: PgClientService, toError: (operation: string, cause: unknown) => E) =>
  (operation: string) =>
  <R extends object>(text: string, params: ReadonlyArray<unknown>) =>
    Effect.mapError(pg.query<R & pg.QueryResultRow>(text, params), (error) => toError(operation, error.cause))
