import * as os from 'node:os';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Turns the first SIGINT or SIGTERM into an aborted AbortSignal (its reason is the signal's name), so
 * that work can stop cleanly; the handlers are then removed, so a second Ctrl-C kills at once.
 */
export function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const dispose = () => SIGNALS.forEach((name) => process.off(name, onSignal));
  function onSignal(name: NodeJS.Signals): void {
    dispose();
    controller.abort(name);
  }
  SIGNALS.forEach((name) => process.on(name, onSignal));
  return { signal: controller.signal, dispose };
}

/** The exit status of a process stopped by a signal, by the shell's convention: 128 + its number (SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: string): number {
  return 128 + (os.constants.signals[signal as NodeJS.Signals] ?? 0);
}
