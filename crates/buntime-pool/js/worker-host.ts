// Buntime worker host: one Bun process holding many app workers (Bun Worker threads).
//
// Main thread: connects to the runtime's control socket (argv[2]) and speaks JSON lines.
//   runtime → host: {op:"spawn", id, appDir, entrypoint, env, socketPath, autoInstall, lowMemory,
//                     injectBase, publicEnv}
//                   {op:"idle", id} · {op:"terminate", id, graceMs} · {op:"shutdown", graceMs}
//   host → runtime: {ev:"hello", pid} · {ev:"ready", id} · {ev:"error", id, message}
//                   {ev:"memory", id, used, limit} · {ev:"exit", id, code}
// Worker threads run worker.js (kept free of `node:` imports, which cost ~9 ms per thread).
// Stdin EOF (the runtime went away) ends the host.
import { createConnection } from "node:net";

host();

function host() {
  const ctlPath = process.argv[2];
  const workerScript = process.argv[3] ?? import.meta.dir + "/worker.js";
  const spareTarget = Math.max(0, Number(process.env.BUNTIME_HOST_SPARES ?? "0") | 0);
  type Rec = { w: Worker; exited: boolean; ready: boolean; stopped: boolean; timer?: ReturnType<typeof setTimeout> };
  const workers = new Map<string, Rec>();
  // Bun 1.3.10 was seen stopping an unrelated, newer worker thread when terminate() was called on
  // a Worker that had already ended (not reproduced by a minimal script on 1.3.10 or 1.4.5), so
  // each worker is stopped at most once and never after its close event; that costs nothing.
  const stop = (rec: Rec) => {
    if (rec.exited || rec.stopped) return;
    rec.stopped = true;
    if (rec.timer) clearTimeout(rec.timer);
    rec.w.terminate();
  };
  const spares: Worker[] = [];
  let booting = 0;
  let buffered = "";
  let closing = false;

  const ctl = createConnection(ctlPath);
  const send = (msg: unknown) => {
    if (!ctl.destroyed) ctl.write(JSON.stringify(msg) + "\n");
  };
  ctl.on("connect", () => {
    send({ ev: "hello", pid: process.pid });
    refill();
  });
  ctl.on("error", () => process.exit(1));
  ctl.on("close", () => process.exit(0));
  ctl.setEncoding("utf8");
  ctl.on("data", (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.trim()) continue;
      let msg: any;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      handle(msg);
    }
  });
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("error", () => process.exit(0));
  process.stdin.resume();

  function blank(): Worker {
    // env: {} so nothing of the host leaks; the init message supplies the app's env.
    return new Worker(workerScript, { env: {} } as any);
  }

  function refill() {
    while (!closing && spares.length + booting < spareTarget) {
      booting++;
      const w = blank();
      const onBoot = (e: MessageEvent) => {
        if (e.data?.type === "BOOT") {
          w.removeEventListener("message", onBoot);
          booting--;
          spares.push(w);
        }
      };
      w.addEventListener("message", onBoot);
      w.addEventListener("close", () => {
        const i = spares.indexOf(w);
        if (i >= 0) spares.splice(i, 1);
      });
    }
  }

  function handle(msg: any) {
    switch (msg.op) {
      case "spawn":
        return spawn(msg);
      case "idle":
        return workers.get(msg.id)?.w.postMessage({ type: "IDLE" });
      case "terminate":
        return terminate(msg.id, msg.graceMs ?? 1000);
      case "shutdown": {
        closing = true;
        for (const s of spares.splice(0)) s.terminate(); // spares never ended, so this is safe
        const ids = [...workers.keys()];
        ids.forEach((id) => terminate(id, msg.graceMs ?? 1000));
        setTimeout(() => process.exit(0), (msg.graceMs ?? 1000) + 50).unref?.();
        if (ids.length === 0) process.exit(0);
        return;
      }
    }
  }

  function spawn(msg: any) {
    const id: string = msg.id;
    const w = spares.shift() ?? blank();
    refill();
    const rec: Rec = { w, exited: false, ready: false, stopped: false };
    workers.set(id, rec);
    w.addEventListener("message", (e: MessageEvent) => {
      const d = e.data;
      if (d?.type === "READY") {
        rec.ready = true;
        send({ ev: "ready", id });
      } else if (d?.type === "DONE") {
        // onTerminate finished: stop the thread now rather than at the end of the grace period.
        stop(rec);
      } else if (d?.type === "MEMORY") {
        // Over its heap limit: stop it now (no onTerminate). Its timer ran, so it is not stuck.
        send({ ev: "memory", id, used: d.used, limit: d.limit });
        stop(rec);
      } else if (d?.type === "INIT_ERROR") {
        send({ ev: "error", id, message: String(d.message) });
      }
    });
    w.addEventListener("error", (e: any) => {
      send({ ev: "error", id, message: String(e?.message ?? e) });
    });
    w.addEventListener("close", (e: any) => {
      if (rec.exited) return;
      rec.exited = true;
      if (rec.timer) clearTimeout(rec.timer);
      workers.delete(id);
      send({ ev: "exit", id, code: typeof e?.code === "number" ? e.code : 0 });
      if (closing && workers.size === 0) process.exit(0);
    });
    // The worker's env is the app's alone; `bun install` (autoInstall) still needs the host's PATH/HOME.
    w.postMessage({ type: "INIT", ...msg, hostPath: process.env.PATH, hostHome: process.env.HOME });
  }

  function terminate(id: string, graceMs: number) {
    const rec = workers.get(id);
    if (!rec) {
      send({ ev: "exit", id, code: 0 });
      return;
    }
    if (rec.exited || rec.stopped || rec.timer) return;
    if (rec.ready) {
      rec.w.postMessage({ type: "TERMINATE" });
      rec.timer = setTimeout(() => stop(rec), graceMs);
    } else {
      stop(rec);
    }
  }
}

