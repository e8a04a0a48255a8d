'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS on purpose: preloaded with node -r */
// Preloaded into a measured `vectors run` process by bench/memory.ts (node -r): appends
// process.memoryUsage() as a JSON line to $MEM_PROBE_FILE every 250 ms. Measurement only.
const { appendFileSync } = require('node:fs');
const file = process.env.MEM_PROBE_FILE;
if (file && require('node:worker_threads').isMainThread) {
  const t = setInterval(() => {
    const m = process.memoryUsage();
    appendFileSync(
      file,
      JSON.stringify({ t: Date.now(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers }) + '\n',
    );
  }, 250);
  t.unref();
}
