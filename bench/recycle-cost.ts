// What recycling at `maxRequests` costs inside Bun alone, without the runtime: the CPU of serving
// 1 000 requests on a fresh worker thread each time (boot, import, Bun.serve, the requests,
// TERMINATE, teardown), against the same requests on one long-lived worker. Uses the pool's own
// worker wrapper (crates/buntime-pool/js/worker.js) and a no-op app, over a Unix socket like the
// pool; the load comes from a child process whose CPU is not counted. Also prints the bare
// Worker start/stop.
//
//   .tools/node_modules/bun/bin/bun.exe bench/recycle-cost.ts [rounds=30] [connections=50]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROUNDS = Number(process.argv[2] ?? 30);
const CONNS = Number(process.argv[3] ?? 50);
const PER_WORKER = 1000; // the default maxRequests
const WRAPPER = join(import.meta.dir, "../crates/buntime-pool/js/worker.js");
const dir = mkdtempSync(join(tmpdir(), "recycle-cost-"));
const entry = join(dir, "index.ts");
writeFileSync(entry, 'export default { fetch: () => new Response("ok") };\n');
writeFileSync(join(dir, "bare.js"), 'postMessage({ type: "BOOT" });\n');

const next = (w: Worker, type: string) =>
  new Promise((resolve) => w.addEventListener("message", (e) => e.data?.type === type && resolve(0)));
const closed = (w: Worker) => new Promise((resolve) => w.addEventListener("close", resolve));

async function start(i: number) {
  const w = new Worker(WRAPPER, { env: {} } as any);
  await next(w, "BOOT");
  const socketPath = join(dir, `w${i}.sock`);
  w.postMessage({ type: "INIT", app: "noop", appDir: dir, entrypoint: entry, env: {}, socketPath });
  await next(w, "READY");
  return { w, socketPath };
}

async function stop(w: Worker) {
  w.postMessage({ type: "TERMINATE" });
  await next(w, "DONE");
  const done = closed(w);
  w.terminate();
  await done;
}

// The load comes from a child process (its CPU is not counted): PER_WORKER keep-alive GETs over
// CONNS connections, each opened fresh, as the pool does for a new worker. One line per load.
const CLIENT = `
import { connect } from "node:net";
const REQUEST = "GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n";
const [per, conns] = [Number(process.argv[2]), Number(process.argv[3])];
for await (const line of console) {
  const each = Math.ceil(per / conns);
  await Promise.all(Array.from({ length: conns }, () => new Promise((resolve, reject) => {
    let left = each;
    const s = connect(line.trim());
    s.on("error", reject);
    s.on("connect", () => s.write(REQUEST));
    s.on("data", () => (--left > 0 ? s.write(REQUEST) : (s.destroy(), resolve(0))));
  })));
  console.log("done");
}
`;
writeFileSync(join(dir, "client.ts"), CLIENT);
const client = Bun.spawn([process.execPath, join(dir, "client.ts"), String(PER_WORKER), String(CONNS)], { stdin: "pipe", stdout: "pipe" });
const replies = client.stdout.pipeThrough(new TextDecoderStream()).getReader();
let pending = "";
async function load(socketPath: string) {
  client.stdin.write(socketPath + "\n");
  client.stdin.flush();
  while (!pending.includes("done\n")) {
    const { value, done } = await replies.read();
    if (done) throw new Error("the load client exited");
    pending += value;
  }
  pending = pending.slice(pending.indexOf("done\n") + 5);
}

async function measure(label: string, body: () => Promise<void>, unit = "per 1000 requests") {
  const before = process.cpuUsage();
  await body();
  const used = process.cpuUsage(before);
  const ms = (used.user + used.system) / 1000 / ROUNDS;
  console.log(`${label.padEnd(44)} ${ms.toFixed(2)} ms CPU ${unit} (worker side)`);
  return ms;
}

const warm = await measure("one long-lived worker", async () => {
  const { w, socketPath } = await start(0);
  for (let i = 0; i < ROUNDS; i++) await load(socketPath);
  await stop(w);
});
const fresh = await measure("a fresh worker per 1000 requests (recycled)", async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const { w, socketPath } = await start(i + 1);
    await load(socketPath);
    await stop(w);
  }
});
const idle = await measure("a fresh worker serving nothing", async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const { w } = await start(ROUNDS + i + 1);
    await stop(w);
  }
}, "per worker");
await measure("bare Worker start + stop", async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const w = new Worker(join(dir, "bare.js"), { env: {} } as any);
    await next(w, "BOOT");
    const done = closed(w);
    w.terminate();
    await done;
  }
}, "per worker");
console.log(`recycle cost in Bun: ${(fresh - warm).toFixed(2)} ms CPU per recycle, of which start + stop ${idle.toFixed(2)} ms and the cold first requests ${(fresh - warm - idle).toFixed(2)} ms (${CONNS} connections, Bun ${Bun.version})`);
client.kill();
rmSync(dir, { recursive: true, force: true });
