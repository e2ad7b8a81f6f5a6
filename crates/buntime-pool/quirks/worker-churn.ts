// Memory per ended worker thread: start and end N workers serving Bun.serve on a unix socket.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";

const dir = mkdtempSync(tmpdir() + "/bun-churn-");
const N = Number(process.argv[2] ?? 600);
const src = `const s = Bun.serve({ unix: process.env.SOCK, fetch: () => new Response("ok") }); postMessage("up"); self.onmessage = () => { s.stop(true); process.exit(0); };`;
const url = URL.createObjectURL(new Blob([src], { type: "application/javascript" }));
const rss = () => (process.memoryUsage().rss / 1048576).toFixed(1);
console.log("start rss MB", rss());
for (let i = 0; i < N; i++) {
  const sock = `${dir}/w${i}.sock`;
  const w = new Worker(url, { env: { SOCK: sock } } as any);
  await new Promise((r) => { w.onmessage = r; });
  const res = await fetch("http://x/", { unix: sock } as any);
  await res.text();
  const closed = new Promise((r) => w.addEventListener("close", r));
  w.postMessage("bye");
  await closed;
  if ((i + 1) % 100 === 0) { Bun.gc(true); console.log(`${i + 1} workers ended, rss MB`, rss()); }
}
console.log("survived", N);
process.exit(0);
