#!/usr/bin/env node
// A drover runner in plain Node.js (no packages): docs/runner-protocol.md in one file. Jobs run in
// this process, several at once (async handlers); a cancel sets job.cancelled.
//
//   [runners.node]
//   command = ["/usr/bin/node", "examples/runners/node/runner.js"]
//   [jobs.shout]
//   runner = "node"
'use strict';
const readline = require('readline');

const handlers = {
  // {"text": "hi"} -> {"text": "HI"}
  shout: async (job) => ({ text: String(job.payload.text ?? '').toUpperCase() }),
  // {"to": N}: counts to N, reporting progress and a checkpoint; resumes from the checkpoint.
  count: async (job) => {
    const to = job.payload.to ?? 3;
    for (let i = job.checkpoint?.i ?? 0; i < to; i++) {
      if (job.cancelled) throw new Error(`stopped at ${i}: ${job.cancelled}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      send({ op: 'progress', id: job.id, progress: (i + 1) / to, message: `${i + 1}/${to}`, checkpoint: { i: i + 1 } });
    }
    return { counted: to, attempt: job.attempt };
  },
  // Fails for good: a `fail` with retry false.
  refuse: async () => { const e = new Error('refused'); e.permanent = true; throw e; },
};

function send(msg) { process.stdout.write(JSON.stringify(msg) + '\n'); }

const running = new Map();  // id -> job

async function run(job) {
  running.set(job.id, job);
  try {
    const handler = handlers[job.type];
    if (!handler) throw Object.assign(new Error(`no handler for ${job.type}`), { permanent: true });
    const result = await handler(job);
    send({ op: 'done', id: job.id, result: result ?? null });
  } catch (e) {
    send({ op: 'fail', id: job.id, error: String(e && e.stack || e), retry: !(e && e.permanent) });
  } finally {
    running.delete(job.id);
  }
}

// A handler's console.log must not reach the protocol on stdout: it goes to stderr (drover's log).
console.log = console.error;
send({ op: 'hello', protocol: 1, types: Object.keys(handlers), isolation: 'process' });
const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    // drover begins every run message with its op and id: that job fails, the runner goes on.
    const run = /^\{"op":"run","id":(\d+),/.exec(line);
    if (run) send({ op: 'fail', id: Number(run[1]), error: `the job's message could not be decoded (${e})`, retry: false });
    else console.error(`ignoring a line that is not JSON: ${line.slice(0, 200)}`);
    return;
  }
  if (msg.op === 'run') run({ ...msg, cancelled: null });
  else if (msg.op === 'cancel' && running.has(msg.id)) running.get(msg.id).cancelled = msg.reason;
});
// drover closed stdin: finish what is running, then exit (the event loop empties by itself).
input.on('close', () => {});
