// WebSocket echo load: `bun ws-client.ts URL CONNS SECONDS SIZE` opens CONNS sockets, each sending
// a SIZE-byte text message and waiting for its echo in a loop; after a 1 s warm-up it counts
// round trips for SECONDS and prints "msgs/s p50_ms p99_ms errors".
const [url, connsArg, secondsArg, sizeArg] = process.argv.slice(2);
const conns = Number(connsArg ?? 50);
const seconds = Number(secondsArg ?? 10);
const payload = "x".repeat(Number(sizeArg ?? 32));
const latencies: number[] = [];
let errors = 0;
let measuring = false;
let stopped = false;

function client(): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    let sent = 0;
    const send = () => {
      if (stopped) return ws.close(1000);
      sent = performance.now();
      ws.send(payload);
    };
    ws.onopen = send;
    ws.onmessage = () => {
      if (measuring) latencies.push(performance.now() - sent);
      send();
    };
    ws.onerror = () => errors++;
    ws.onclose = () => resolve();
  });
}

const all = Array.from({ length: conns }, client);
await Bun.sleep(1000);
measuring = true;
await Bun.sleep(seconds * 1000);
measuring = false;
stopped = true;
await Promise.race([Promise.all(all), Bun.sleep(3000)]);
latencies.sort((a, b) => a - b);
const pct = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] : 0);
console.log(`${Math.round(latencies.length / seconds)} ${pct(0.5).toFixed(2)} ${pct(0.99).toFixed(2)} ${errors}`);
