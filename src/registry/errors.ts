/**
 * Errors of the registry's REST API, as Confluent's Schema Registry names
 * them: an HTTP status plus an `error_code` (the status, or the status and
 * two digits). Both the embedded server and the HTTP client speak these.
 */

/** Confluent's error codes that tideline produces or understands. */
export const ErrorCode = {
  unauthorized: 401,
  notFound: 404,
  methodNotAllowed: 405,
  incompatible: 409,
  subjectNotFound: 40401,
  versionNotFound: 40402,
  schemaNotFound: 40403,
  subjectCompatibilityNotConfigured: 40408,
  unprocessable: 422,
  invalidSchema: 42201,
  invalidVersion: 42202,
  invalidCompatibilityLevel: 42203,
  storeError: 50001,
  operationTimeout: 50002,
} as const;

/** A REST error: the HTTP status and Confluent's `{error_code, message}` body. */
export class RegistryApiError extends Error {
  override readonly name = 'RegistryApiError';
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }

  body(): { error_code: number; message: string } {
    return { error_code: this.errorCode, message: this.message };
  }
}

export const subjectNotFound = (subject: string): RegistryApiError =>
  new RegistryApiError(404, ErrorCode.subjectNotFound, `Subject '${subject}' not found.`);

export const versionNotFound = (subject: string, version: number | string): RegistryApiError =>
  new RegistryApiError(404, ErrorCode.versionNotFound, `Version ${version} not found for subject '${subject}'.`);

export const schemaNotFound = (detail: string): RegistryApiError => new RegistryApiError(404, ErrorCode.schemaNotFound, detail);

export const invalidSchema = (detail: string): RegistryApiError => new RegistryApiError(422, ErrorCode.invalidSchema, `Invalid schema: ${detail}`);

export const invalidVersion = (version: string): RegistryApiError =>
  new RegistryApiError(
    422,
    ErrorCode.invalidVersion,
    `The specified version '${version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`,
  );

export const invalidCompatibilityLevel = (level: unknown): RegistryApiError =>
  new RegistryApiError(
    422,
    ErrorCode.invalidCompatibilityLevel,
    `Invalid compatibility level ${JSON.stringify(level)}: one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE`,
  );

export const storeError = (detail: string): RegistryApiError => new RegistryApiError(500, ErrorCode.storeError, detail);
