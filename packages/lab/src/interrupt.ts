/**
 * Ctrl-C (SIGINT) and SIGTERM as a request, not a kill: a training loop
 * checks `requested` after each step, saves a checkpoint, says where, and
 * exits with 128 + the signal's number (130 for Ctrl-C). A second Ctrl-C
 * while it saves exits at once.
 */

export interface Interrupt {
  /** Whether a signal arrived since `watchInterrupt`. */
  readonly requested: boolean;
  /** The signal's name, e.g. 'SIGINT' (null before one arrives). */
  readonly signal: NodeJS.Signals | null;
  /** The exit code for the signal: 130 for SIGINT, 143 for SIGTERM. */
  readonly exitCode: number;
  /** Stops listening (the default handlers come back). */
  dispose(): void;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };

/** Listens for SIGINT and SIGTERM until `dispose()`. */
export function watchInterrupt(): Interrupt {
  let signal: NodeJS.Signals | null = null;
  const handler = (s: NodeJS.Signals): void => {
    if (signal !== null) process.exit(128 + (SIGNAL_NUMBERS[s] ?? 2));
    signal = s;
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  for (const s of signals) process.on(s, handler);
  return {
    get requested() {
      return signal !== null;
    },
    get signal() {
      return signal;
    },
    get exitCode() {
      return 128 + (signal === null ? 0 : SIGNAL_NUMBERS[signal] ?? 2);
    },
    dispose() {
      for (const s of signals) process.off(s, handler);
    },
  };
}
