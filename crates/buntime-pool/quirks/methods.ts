// Which request methods does Bun.serve answer? Prints those it drops or refuses.
import { METHODS } from "node:http";
import { connect } from "node:net";
const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (r) => new Response(r.method) });
const ask = (m: string) => new Promise<string>((res) => {
  const s = connect(server.port, "127.0.0.1", () => s.write(`${m} / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`));
  let got = ""; s.on("data", (d) => { got += d; s.end(); }); s.on("close", () => res(got.split("\r\n")[0] || "(dropped)")); s.setTimeout(1000, () => s.destroy());
});
const odd: string[] = [];
for (const m of [...METHODS, "FOO", "get", "BREW"]) { const r = await ask(m); if (!r.startsWith("HTTP/1.1 200")) odd.push(`${m}: ${r}`); }
console.log(`Bun ${Bun.version}: ${METHODS.length} Node methods; not answered 200:`, odd);
server.stop(true);
