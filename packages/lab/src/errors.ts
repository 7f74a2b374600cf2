/**
 * A failure the user can fix (a run folder that exists, a damaged file, a
 * missing checkpoint): a command line prints its message as one line,
 * without a stack trace, and exits 1.
 */
export class RunError extends Error {
  override name = 'RunError';
}
