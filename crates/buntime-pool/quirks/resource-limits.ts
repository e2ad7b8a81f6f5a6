// Does Worker resourceLimits stop a worker that grows its heap?
const src = `
const keep = [];
setInterval(() => { for (let i = 0; i < 20000; i++) keep.push({ a: i, s: "x".repeat(50) + i }); postMessage(process.memoryUsage().heapUsed); }, 10);
`;
const url = URL.createObjectURL(new Blob([src], { type: "application/javascript" }));
const w = new Worker(url, { resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 } } as any);
let last = 0;
w.onmessage = (e) => { last = e.data; };
w.addEventListener("error", (e: any) => console.log("error", e.message));
w.addEventListener("close", (e: any) => { console.log("closed, code", e.code, "heap MB", (last / 1048576).toFixed(1)); process.exit(0); });
setTimeout(() => { console.log("still running after 6s, heap MB", (last / 1048576).toFixed(1), "=> resourceLimits ignored"); process.exit(0); }, 6000);
