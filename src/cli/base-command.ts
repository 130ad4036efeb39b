import { Command } from '@oclif/core';

/**
 * The suite's commands: oclif keeps the exit code of `this.error(message, { exit: 2 })` on the
 * console path but turns it into 1 under --json; a CI script must see the same code either way.
 */
export abstract class FdmCommand extends Command {
  protected async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (err.oclif?.exit !== undefined) process.exitCode = err.oclif.exit;
    return super.catch(err);
  }
}
