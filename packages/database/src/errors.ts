/**
 * The one error type of `@buntime/database`: an HTTP failure (status and body) or a statement's
 * error result (the engine's code, e.g. `SQLITE_CONSTRAINT_PRIMARYKEY`).
 */

/** What went wrong, with whatever the server said about it. */
export class DatabaseError extends Error {
  /** The HTTP status when the request itself failed (non-2xx); `undefined` for SQL errors. */
  readonly status: number | undefined;
  /** The response body of a non-2xx answer, as text. */
  readonly body: string | undefined;
  /** The HRANA error code: `SQLITE_*`, `INVALID_BATON`, `PARSE_ERROR`, `TENANT_NOT_FOUND`, … */
  readonly code: string | undefined;

  constructor(message: string, details: { status?: number; body?: string; code?: string | null } = {}) {
    super(message);
    this.name = "DatabaseError";
    this.status = details.status;
    this.body = details.body;
    this.code = details.code ?? undefined;
  }

  /** Builds the error for a non-2xx answer; the body's `code` (when it is JSON) is kept. */
  static fromResponse(status: number, body: string): DatabaseError {
    let code: string | undefined;
    try {
      const parsed = JSON.parse(body) as { code?: unknown };
      if (typeof parsed.code === "string") code = parsed.code;
    } catch {
      // Not JSON: the status and raw body say it all.
    }
    return new DatabaseError(`Database request failed: ${status} ${body}`, { status, body, code });
  }
}
