// Which kinds of stuck thread does terminate() stop?
const cases: Record<string, string> = {
  "for(;;){}": `postMessage("go"); for (;;) {}`,
  "while(true) with try/finally": `postMessage("go"); for (;;) { try { for(;;){} } finally { } }`,
  "Atomics.wait forever": `postMessage("go"); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);`,
  "Bun.sleepSync(1e9)": `postMessage("go"); Bun.sleepSync(1e9);`,
  "regex catastrophic": `postMessage("go"); /^(a+)+$/.test("a".repeat(40) + "b");`,
};
for (const [name, src] of Object.entries(cases)) {
  const url = URL.createObjectURL(new Blob([src], { type: "application/javascript" }));
  const w = new Worker(url);
  await new Promise((r) => (w.onmessage = r));
  await Bun.sleep(100);
  const t0 = performance.now();
  const closed = new Promise((r) => w.addEventListener("close", () => r(true)));
  w.terminate();
  const ok = await Promise.race([closed, Bun.sleep(2000).then(() => false)]);
  console.log(`${name}: ${ok ? `stopped in ${(performance.now() - t0).toFixed(0)} ms` : "NOT stopped after 2 s"}`);
}
process.exit(0);
