/**
 * The admin API's errors, in Kafka Connect's shape: a JSON body
 * `{"error_code": <HTTP status>, "message": "..."}` with the same status.
 */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Extra response headers (Allow on 405, WWW-Authenticate on 401). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

export interface ErrorBody {
  error_code: number;
  message: string;
}

export function errorBody(status: number, message: string): ErrorBody {
  return { error_code: status, message };
}

export function unknownConnector(name: string): AdminError {
  return new AdminError(404, `Connector ${name} not found`);
}
