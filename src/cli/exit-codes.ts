/** Exit codes of the `tideline` command (documented in README.md). */
export const ExitCode = {
  ok: 0,
  /** The daemon or a command failed at run time. */
  failure: 1,
  /** Bad command line (unknown command or option). */
  usage: 2,
  /** Connector files are invalid; every problem was printed. */
  invalidConfig: 3,
} as const;
