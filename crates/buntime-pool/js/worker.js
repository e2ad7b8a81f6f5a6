// Buntime worker wrapper: one Bun Worker thread serving one app with Bun.serve on its own Unix
// socket. Plain JS with no `node:` imports, so a fresh thread starts in a few milliseconds.
//
// host → worker: {type:"INIT", app, appDir, entrypoint, env, socketPath, autoInstall, injectBase,
//                 publicEnv, maxBodyBytes, maxMemoryBytes} · {type:"IDLE"} · {type:"TERMINATE"}
// worker → host: {type:"BOOT"} · {type:"READY"} · {type:"INIT_ERROR", message} · {type:"DONE"}
//                {type:"MEMORY", used, limit}
let app = null;
let server = null;
let appKey = "";
// Set once the app called process.exit: the request that did it is answered 502, then the thread ends.
let exiting = null;

self.onmessage = async (e) => {
  const msg = e.data;
  if (msg?.type === "INIT") {
    try {
      await init(msg);
      postMessage({ type: "READY" });
    } catch (err) {
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
    postMessage({ type: "DONE" });
  }
};
postMessage({ type: "BOOT" });

// The runtime honours `x-buntime-internal` (no CSRF check) only from its own workers. They prove it
// with a per-process token that the app never sees: it is removed from the environment and only
// added to requests this worker sends to the runtime's own API.
function vouchForRuntimeCalls() {
  const token = process.env.BUNTIME_WORKER_TOKEN;
  delete process.env.BUNTIME_WORKER_TOKEN;
  const api = process.env.RUNTIME_API_URL;
  if (!token || !api) return;
  const base = api.endsWith("/") ? api : api + "/";
  const realFetch = globalThis.fetch;
  globalThis.fetch = function fetch(input, init) {
    const req = new Request(input, init);
    if (req.url.startsWith(base)) req.headers.set("x-buntime-worker-token", token);
    return realFetch(req);
  };
}

// A JSON error answer in the runtime's shape.
function failure(status, code, message) {
  return new Response(JSON.stringify({ success: false, code, message }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

// Bun's process.exit in a worker returns and ends the thread a moment later, and a handler that
// goes on to return nothing is answered "Welcome to Bun!" with 200. Record the exit, answer the
// request 502, then end the thread.
function trapExit() {
  const realExit = process.exit.bind(process);
  process.exit = (code) => {
    if (exiting !== null) return;
    exiting = code ?? process.exitCode ?? 0;
    setTimeout(() => realExit(exiting), 50);
  };
}

// What a handler gave back, checked: anything but a Response (undefined, a string) would be
// answered "Welcome to Bun!" by Bun; it becomes a 502 naming the app instead.
function checked(result) {
  if (exiting !== null) {
    return failure(502, "WORKER_EXITED", `the worker of app \`${appKey}\` exited while serving the request (process.exit(${exiting}))`);
  }
  if (result instanceof Response) return result;
  const got = result === null ? "null" : typeof result;
  console.error(`[buntime] app ${appKey}: fetch returned ${got} instead of a Response`);
  return failure(502, "WORKER_BAD_RESPONSE", `the worker of app \`${appKey}\` returned ${got} instead of a Response`);
}

function guard(h, upgrades) {
  if (!upgrades) {
    return (req, srv) => {
      const r = h(req, srv);
      return typeof r?.then === "function" ? r.then(checked) : checked(r);
    };
  }
  // An app with `websocket` handlers returns nothing from a handler that called
  // `server.upgrade(req)`, as Bun expects: the upgrade is watched so that answer is let through.
  return (req, srv) => {
    let upgraded = false;
    const watched = new Proxy(srv, {
      get(target, key) {
        if (key === "upgrade") return (r, options) => (upgraded = target.upgrade(r, options));
        const v = Reflect.get(target, key);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const done = (res) => (upgraded ? undefined : checked(res));
    const r = h(req, watched);
    return typeof r?.then === "function" ? r.then(done) : done(r);
  };
}

// Reports the thread's own heap (objects and array buffers) when it goes over the limit: Bun (still
// 1.4.5) ignores `Worker` `resourceLimits`, so the thread watches itself. A thread stuck in
// synchronous code cannot report: the request timeout and the host memory watchdog cover it.
function watchMemory(limit) {
  if (!(limit > 0)) return;
  const check = () => {
    let used = process.memoryUsage().heapUsed;
    if (used <= limit) return;
    // Garbage counts until collected: collect it before judging.
    Bun.gc(true);
    used = process.memoryUsage().heapUsed;
    if (used > limit) {
      clearInterval(timer);
      postMessage({ type: "MEMORY", used, limit });
    }
  };
  const timer = setInterval(check, 100);
}

async function init(msg) {
  appKey = msg.app ?? "";
  trapExit();
  watchMemory(msg.maxMemoryBytes);
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, msg.env ?? {});
  vouchForRuntimeCalls();
  // The runtime sends canonical paths (symlinks resolved) and checked containment; re-check here.
  const dir = msg.appDir.endsWith("/") ? msg.appDir : msg.appDir + "/";
  if (!msg.entrypoint.startsWith(dir)) {
    throw new Error(`Entrypoint ${msg.entrypoint} is outside the app directory ${msg.appDir}`);
  }
  if (msg.autoInstall) {
    const r = Bun.spawnSync([process.execPath, "install", "--frozen-lockfile", "--ignore-scripts"], {
      cwd: msg.appDir,
      env: { PATH: msg.hostPath ?? "/usr/local/bin:/usr/bin:/bin", HOME: msg.hostHome ?? msg.appDir },
      stdout: "pipe",
      stderr: "pipe",
    });
    if (!r.success) throw new Error(`bun install failed: ${r.stderr.toString().trim()}`);
  }
  const mod = await import(msg.entrypoint);
  app = mod?.default ?? mod;
  const hasFetch = typeof app?.fetch === "function";
  const hasRoutes = app?.routes && typeof app.routes === "object";
  if (!hasFetch && !hasRoutes) throw new Error("Module must export default with fetch method or routes");

  const websocket = app?.websocket && typeof app.websocket === "object" ? app.websocket : null;
  const upgrades = websocket !== null;
  const inject = makeInjector(msg);
  const injected = (h) => async (req, srv) => {
    const res = await h(req, srv);
    // Nothing back: an upgrade (let through) or a bug (the outer guard answers 502).
    return res === undefined ? res : inject(req, checked(res));
  };
  const wrap = (h) => guard(inject ? injected(h) : h, upgrades);
  let routes;
  if (hasRoutes) {
    routes = {};
    for (const [path, value] of Object.entries(app.routes)) {
      if (value instanceof Response) {
        routes[path] = inject ? wrap(() => value.clone()) : value;
      } else if (value instanceof Blob) {
        routes[path] = wrap(() => new Response(value));
      } else if (typeof value === "function") {
        routes[path] = wrap((req, srv) => value.call(app, req, srv));
      } else if (value && typeof value === "object") {
        const methods = {};
        for (const [m, h] of Object.entries(value)) {
          if (typeof h === "function") methods[m.toUpperCase()] = wrap((req, srv) => h.call(app, req, srv));
          else if (h instanceof Response) methods[m.toUpperCase()] = wrap(() => h.clone());
        }
        routes[path] = methods;
      }
    }
  }
  const fallback = hasFetch
    ? (req, srv) => app.fetch(req, srv)
    : () => new Response("Not Found", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
  server = Bun.serve({
    unix: msg.socketPath,
    idleTimeout: 0,
    maxRequestBodySize: msg.maxBodyBytes ?? 10 * 1024 * 1024,
    ...(routes ? { routes } : {}),
    ...(websocket ? { websocket } : {}),
    fetch: wrap(fallback),
    error(err) {
      console.error("[buntime] app error:", err);
      return new Response(JSON.stringify({ success: false, code: "APP_ERROR", message: String(err?.message ?? err) }), {
        status: 500,
        headers: { "content-type": "application/json" },
      });
    },
  });
}

// HTML injection of <base href> and window.__env__ (spec §9.7 step 4); null when never needed.
function makeInjector(msg) {
  const publicEnv = msg.publicEnv ?? {};
  const hasEnv = Object.keys(publicEnv).length > 0;
  if (!msg.injectBase && !hasEnv) return null;
  return async (req, res) => {
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
