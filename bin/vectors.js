#!/usr/bin/env node
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS on purpose: tsx is registered before the TypeScript is required */
// `vectors`: runs the TypeScript CLI (src/cli/main.ts) without a build step. tsx compiles the
// sources as they load, in this process (as `node --import tsx` does), so signals reach the CLI itself.
require('tsx/cjs');
const { main } = require('../src/cli/main.ts');

// A reader that stopped reading (`vectors tail ... | head`) ends the command quietly, not with an EPIPE stack trace.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
// Exit when the command is done: a client's idle connection must not keep a finished command alive
// (stdout and stderr are synchronous for files, pipes and terminals on Linux, so nothing is lost).
main(process.argv.slice(2)).then((code) => process.exit(code));
