// terminate() on a worker that already ended: does it stop an unrelated newer worker?
const src = `self.onmessage = (e) => { if (e.data === "exit") process.exit(0); else postMessage("pong"); }; postMessage("up");`;
const url = URL.createObjectURL(new Blob([src], { type: "application/javascript" }));
function start(): Promise<Worker> { return new Promise((r) => { const w = new Worker(url); w.onmessage = (e) => { if (e.data === "up") r(w); }; }); }
let hits = 0;
for (let round = 0; round < 50; round++) {
  const a = await start();
  const closedA = new Promise((r) => a.addEventListener("close", r));
  a.postMessage("exit");
  await closedA;
  const b = await start();
  let bClosed = false;
  b.addEventListener("close", () => { bClosed = true; });
  a.terminate(); a.terminate();
  await Bun.sleep(30);
  const alive = await Promise.race([new Promise((r) => { b.onmessage = (e) => e.data === "pong" && r(true); b.postMessage("ping"); }), Bun.sleep(500).then(() => false)]);
  if (!alive || bClosed) hits++;
  b.terminate();
  await new Promise((r) => b.addEventListener("close", r));
}
console.log(`newer worker stopped by a stale terminate(): ${hits}/50 rounds`);
process.exit(0);
