// Buntime worker host: one Bun process holding many app workers (Bun Worker threads).
//
// Main thread: connects to the runtime's control socket (argv[2]) and speaks JSON lines.
//   runtime → host: {op:"spawn", id, appDir, entrypoint, env, socketPath, autoInstall, lowMemory,
//                     injectBase, publicEnv}
//                   {op:"idle", id} · {op:"terminate", id, graceMs} · {op:"shutdown", graceMs}
//   host → runtime: {ev:"hello", pid} · {ev:"ready", id} · {ev:"error", id, message}
//                   {ev:"exit", id, code}
// Worker thread: receives its init message, loads the app and serves it with Bun.serve on its own
// Unix socket; the runtime proxies HTTP straight to that socket.
// Stdin EOF (the runtime went away) ends the host.
import { createConnection } from "node:net";
import { realpathSync, existsSync, unlinkSync } from "node:fs";
import { sep } from "node:path";

declare const self: Worker & { onmessage: ((e: MessageEvent) => void) | null };

if (Bun.isMainThread) {
  host();
} else {
  worker();
}

function host() {
  const ctlPath = process.argv[2];
  const spareTarget = Math.max(0, Number(process.env.BUNTIME_HOST_SPARES ?? "0") | 0);
  const workers = new Map<string, { w: Worker; exited: boolean; ready: boolean }>();
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
    return new Worker(import.meta.path, { env: {} } as any);
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
        for (const s of spares.splice(0)) s.terminate();
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
    const rec = { w, exited: false, ready: false };
    workers.set(id, rec);
    w.addEventListener("message", (e: MessageEvent) => {
      const d = e.data;
      if (d?.type === "READY") {
        rec.ready = true;
        send({ ev: "ready", id });
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
      workers.delete(id);
      try {
        if (existsSync(msg.socketPath)) unlinkSync(msg.socketPath);
      } catch {}
      send({ ev: "exit", id, code: typeof e?.code === "number" ? e.code : 0 });
      if (closing && workers.size === 0) process.exit(0);
    });
    w.postMessage({ type: "INIT", ...msg });
  }

  function terminate(id: string, graceMs: number) {
    const rec = workers.get(id);
    if (!rec) {
      send({ ev: "exit", id, code: 0 });
      return;
    }
    if (rec.ready) rec.w.postMessage({ type: "TERMINATE" });
    setTimeout(() => rec.w.terminate(), rec.ready ? graceMs : 0);
  }
}

function worker() {
  let app: any = null;
  let server: any = null;

  self.onmessage = async (e: MessageEvent) => {
    const msg = e.data;
    if (msg?.type === "INIT") {
      try {
        await init(msg);
        postMessage({ type: "READY" });
      } catch (err: any) {
        postMessage({ type: "INIT_ERROR", message: err?.message ?? String(err) });
      }
    } else if (msg?.type === "IDLE") {
      try {
        await app?.onIdle?.();
      } catch (err) {
        console.error("[buntime] onIdle failed:", err);
      }
    } else if (msg?.type === "TERMINATE") {
      try {
        await app?.onTerminate?.();
      } catch (err) {
        console.error("[buntime] onTerminate failed:", err);
      }
      try {
        server?.stop(true);
      } catch {}
    }
  };
  postMessage({ type: "BOOT" });

  async function init(msg: any) {
    for (const k of Object.keys(process.env)) delete process.env[k];
    Object.assign(process.env, msg.env ?? {});
    const appDir = realpathSync(msg.appDir);
    if (!existsSync(msg.entrypoint)) throw new Error(`Entrypoint not found: ${msg.entrypoint}`);
    const entry = realpathSync(msg.entrypoint);
    if (!(entry.startsWith(appDir + sep))) {
      throw new Error(`Entrypoint ${msg.entrypoint} is outside the app directory ${msg.appDir}`);
    }
    if (msg.autoInstall) {
      const r = Bun.spawnSync([process.execPath, "install", "--frozen-lockfile", "--ignore-scripts"], {
        cwd: appDir,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? appDir },
        stdout: "pipe",
        stderr: "pipe",
      });
      if (!r.success) throw new Error(`bun install failed: ${r.stderr.toString().trim()}`);
    }
    const mod = await import(entry);
    app = mod?.default ?? mod;
    const hasFetch = typeof app?.fetch === "function";
    const hasRoutes = app?.routes && typeof app.routes === "object";
    if (!hasFetch && !hasRoutes) throw new Error("Module must export default with fetch method or routes");

    const inject = makeInjector(msg);
    const wrap = (h: (req: any, srv: any) => any) => inject ? async (req: any, srv: any) => inject(req, await h(req, srv)) : h;
    let routes: Record<string, any> | undefined;
    if (hasRoutes) {
      routes = {};
      for (const [path, value] of Object.entries(app.routes)) {
        if (value instanceof Response) {
          routes[path] = inject ? wrap(() => value.clone()) : value;
        } else if (value instanceof Blob) {
          routes[path] = wrap(() => new Response(value));
        } else if (typeof value === "function") {
          routes[path] = wrap((req, srv) => (value as any).call(app, req, srv));
        } else if (value && typeof value === "object") {
          const methods: Record<string, any> = {};
          for (const [m, h] of Object.entries(value as Record<string, any>)) {
            if (typeof h === "function") methods[m.toUpperCase()] = wrap((req, srv) => h.call(app, req, srv));
            else if (h instanceof Response) methods[m.toUpperCase()] = wrap(() => h.clone());
          }
          routes[path] = methods;
        }
      }
    }
    const fallback = hasFetch
      ? (req: any, srv: any) => app.fetch(req, srv)
      : () => new Response("Not Found", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
    try {
      if (existsSync(msg.socketPath)) unlinkSync(msg.socketPath);
    } catch {}
    server = Bun.serve({
      unix: msg.socketPath,
      idleTimeout: 0,
      maxRequestBodySize: msg.maxBodyBytes ?? 10 * 1024 * 1024,
      ...(routes ? { routes } : {}),
      fetch: wrap(fallback),
      error(err: any) {
        console.error("[buntime] app error:", err);
        return new Response(JSON.stringify({ success: false, code: "APP_ERROR", message: String(err?.message ?? err) }), {
          status: 500,
          headers: { "content-type": "application/json" },
        });
      },
    } as any);
  }

  // HTML injection of <base href> and window.__env__ (spec §9.7 step 4); null when never needed.
  function makeInjector(msg: any) {
    const publicEnv = msg.publicEnv ?? {};
    const hasEnv = Object.keys(publicEnv).length > 0;
    if (!msg.injectBase && !hasEnv) return null;
    return async (req: Request, res: Response) => {
      if (!(res instanceof Response)) return res;
      const ct = res.headers.get("content-type") ?? "";
      if (!ct.includes("text/html")) return res;
      let html = await res.text();
      const base = req.headers.get("x-base");
      if (msg.injectBase && base !== null) {
        const href = base === "/" ? "/" : base + "/";
        const esc = href
          .replace(/\\/g, "\\\\")
          .replace(/&/g, "&amp;")
          .replace(/"/g, "&quot;")
          .replace(/'/g, "&#39;")
          .replace(/</g, "&lt;")
          .replace(/>/g, "&gt;");
        html = html.replace("<head>", () => `<head><base href="${esc}" />`);
      }
      if (hasEnv) {
        const json = JSON.stringify(publicEnv).replace(/<\/script>/gi, "<\\/script>");
        html = html.replace("</head>", () => `<script>window.__env__=${json};</script></head>`);
      }
      const headers = new Headers(res.headers);
      headers.delete("content-length");
      return new Response(html, { status: res.status, statusText: res.statusText, headers });
    };
  }
}
