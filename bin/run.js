#!/usr/bin/env node
// Entry point of the `fdm-bench` command: oclif loads the compiled commands from dist/src/commands.
require('@oclif/core')
  .execute({ dir: __dirname })
  .catch(require('@oclif/core/handle'));
