// Buntime plugin host: one Bun process per plugin generation. It connects to the Unix socket the
// runtime gives it in BUNTIME_HOST_SOCKET, imports JS/TS plugins when asked, and answers hook and
// service calls there. Route requests arrive as plain HTTP on a second socket it serves with
// Bun.serve (BUNTIME_HOST_HTTP_SOCKET), the plugin named by the `x-buntime-plugin` header. The wire protocol is documented in docs/plugin-host-protocol.md; keep
// PROTOCOL_MIN/MAX in step with crates/buntime-js/src/protocol.rs.
//
// Frame: u32 BE length of the rest | u32 BE header length | header (UTF-8 JSON) | body (bytes).

export {};

const PROTOCOL_MIN = 1;
const PROTOCOL_MAX = 1;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Header = { t: string; id?: number; [k: string]: any };
type HeaderPairs = [string, string][];

interface Loaded {
  name: string;
  impl: any;
  // What `onServerStart` and `routes.fetch(req, server)` get: Bun's Server as the plugin sees it.
  server: PluginServer;
  routesFetch?: (req: Request) => Response | Promise<Response>;
  serverFetch?: (req: Request) => Response | Promise<Response>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

const plugins = new Map<string, Loaded>();
const provided = new Map<string, unknown>();
const nativeServices = new Set<string>();
/** The synchronous parts of native services (`JsonService::shape`): binders and fixed values. */
type ServiceShape = { bind?: string[]; values?: Record<string, unknown> };
const nativeShapes = new Map<string, ServiceShape>();
// `raw` calls resolve with the whole reply (header and body), the others with its `value`.
const pendingCalls = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void; raw?: boolean }>();
let nextCallId = 1;
let welcomed = false;

// ---- transport -------------------------------------------------------------------------------

let sock: any;
let inbuf: Uint8Array = EMPTY;
let outbox: Uint8Array[] = [];
let outboxBytes = 0;
let blocked: Uint8Array | null = null;
let flushScheduled = false;

function frame(header: Header, body: Uint8Array = EMPTY): Uint8Array {
  const h = encoder.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 4 + h.length + body.length);
  view.setUint32(4, h.length);
  out.set(h, 8);
  out.set(body, 8 + h.length);
  return out;
}

function send(header: Header, body?: Uint8Array) {
  const f = frame(header, body);
  outbox.push(f);
  outboxBytes += f.length;
  if (!flushScheduled) {
    flushScheduled = true;
    queueMicrotask(flush);
  }
}

function flush() {
  flushScheduled = false;
  if (blocked || outbox.length === 0 || !sock) return;
  let data: Uint8Array;
  if (outbox.length === 1) data = outbox[0]!;
  else {
    data = new Uint8Array(outboxBytes);
    let o = 0;
    for (const f of outbox) {
      data.set(f, o);
      o += f.length;
    }
  }
  outbox = [];
  outboxBytes = 0;
  writeOut(data);
}

function writeOut(data: Uint8Array) {
  const n = sock.write(data);
  if (n < data.length) blocked = data.subarray(Math.max(n, 0));
}

function onDrain() {
  if (blocked) {
    const rest = blocked;
    blocked = null;
    writeOut(rest);
  }
  if (!blocked) flush();
}

function onData(chunk: Uint8Array) {
  if (inbuf.length === 0) inbuf = chunk;
  else {
    const merged = new Uint8Array(inbuf.length + chunk.length);
    merged.set(inbuf);
    merged.set(chunk, inbuf.length);
    inbuf = merged;
  }
  let off = 0;
  while (inbuf.length - off >= 8) {
    const view = new DataView(inbuf.buffer, inbuf.byteOffset + off);
    const len = view.getUint32(0);
    if (inbuf.length - off < 4 + len) break;
    const hlen = view.getUint32(4);
    const header = JSON.parse(decoder.decode(inbuf.subarray(off + 8, off + 8 + hlen))) as Header;
    // Copy the body: the input buffer is reused by the socket.
    const body = inbuf.slice(off + 8 + hlen, off + 4 + len);
    off += 4 + len;
    dispatch(header, body);
  }
  inbuf = off === inbuf.length ? EMPTY : inbuf.slice(off);
}

// ---- helpers ---------------------------------------------------------------------------------

function errorInfo(e: unknown): { message: string; stack?: string } {
  const located = locate(e);
  if (located) return { message: located };
  if (e instanceof Error) return { message: e.message || String(e), stack: e.stack };
  return { message: String(e) };
}

// Bun reports a module that does not compile (a syntax error) or an import it cannot resolve as a
// BuildMessage / ResolveMessage (not an Error) with a `position`; an AggregateError may hold
// several. Name the file, line and column, as a compiler would.
function locate(e: any): string | undefined {
  if (e && Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every((x: any) => x?.position)) {
    return e.errors.map((x: any) => locate(x)).join("; ");
  }
  const pos = e?.position;
  if (!pos || typeof pos.file !== "string" || typeof pos.line !== "number") return undefined;
  const where = `${pos.file}:${pos.line}:${pos.column}`;
  const message = String(e.message ?? e);
  return e.name === "ResolveMessage" ? `${message} (imported at ${where})` : `syntax error at ${where}: ${message}`;
}

function reply(id: number, result: Record<string, unknown> = {}, body?: Uint8Array) {
  send({ t: "ok", id, ...result }, body);
}

function replyError(id: number, e: unknown) {
  send({ t: "error", id, ...errorInfo(e) });
}

function log(plugin: string, level: string, message: unknown, meta?: unknown) {
  send({ t: "log", plugin, level, message: String(message), meta: meta === undefined ? undefined : safeJson(meta) });
}

function safeJson(v: unknown): Json {
  try {
    return JSON.parse(JSON.stringify(v)) ?? null;
  } catch {
    return String(v);
  }
}

function pairs(headers: Headers): HeaderPairs {
  const out: HeaderPairs = [];
  headers.forEach((v, k) => {
    if (k !== "set-cookie") out.push([k, v]);
  });
  for (const c of headers.getSetCookie()) out.push(["set-cookie", c]);
  return out;
}

function hasBody(method: string) {
  return method !== "GET" && method !== "HEAD";
}

function toRequest(h: Header, body: Uint8Array): Request {
  return new Request(h.url, {
    method: h.method,
    headers: h.headers,
    body: body.length > 0 && hasBody(h.method) ? (body as Uint8Array<ArrayBuffer>) : undefined,
  });
}

/** The stand-in for a response body that streams in the core; reading it ends at once. */
function liveBody(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({ pull: (c) => c.close() }, { highWaterMark: 0 });
}

async function bytesOf(r: Request | Response): Promise<Uint8Array> {
  if (r.body === null) return EMPTY;
  return new Uint8Array(await r.arrayBuffer());
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string, budget = ms): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${budget}ms`)), Math.max(ms, 0));
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function callCore(plugin: string, method: string, args: unknown[]): Promise<unknown> {
  const id = nextCallId++;
  return new Promise((resolve, reject) => {
    pendingCalls.set(id, { resolve, reject });
    send({ t: "call", id, plugin, method, args: safeJson(args) });
  });
}

/**
 * A native service as an object: every method is an async call to the core. A binder method (the
 * original's `db.getAdapter("sqlite")`) returns, at once, an object whose methods call
 * `"<binder>.<method>"` with the binder's arguments first; a fixed value (`db.getDefaultType()`)
 * is answered at once.
 */
function nativeProxy(name: string, binder?: { method: string; args: unknown[] }): unknown {
  const shape = nativeShapes.get(name) ?? {};
  return new Proxy(
    {},
    {
      get(_t, prop) {
        // Not a thenable, and no symbol-keyed members: only named methods are forwarded.
        if (typeof prop !== "string" || prop === "then") return undefined;
        if (binder) return (...args: unknown[]) => callCore(name, `${binder.method}.${prop}`, [binder.args, ...args]);
        if (shape.values && Object.hasOwn(shape.values, prop)) {
          const value = shape.values[prop];
          return () => structuredClone(value);
        }
        if (shape.bind?.includes(prop)) return (...args: unknown[]) => nativeProxy(name, { method: prop, args });
        return (...args: unknown[]) => callCore(name, prop, args);
      },
    },
  );
}

function addNativeServices(names: string[] | undefined, shapes: Record<string, ServiceShape> | undefined) {
  for (const s of names ?? []) nativeServices.add(s);
  for (const [s, shape] of Object.entries(shapes ?? {})) nativeShapes.set(s, shape);
}

// ---- worker pool (ctx.pool) ------------------------------------------------------------------
// The pool lives in the core, so `getMetrics()` / `getWorkerStats()` (synchronous, as in the
// original) read a snapshot the host keeps. A snapshot older than POOL_MAX_AGE_MS is refreshed:
// awaited before a request reaches a plugin that took `ctx.pool` (so request handlers see data at
// most that old), in the background when read from elsewhere (timers). `refresh()` awaits one.

const POOL_MAX_AGE_MS = 100;
type PoolSnapshot = { metrics: Record<string, unknown>; workers: Record<string, unknown> };
let poolEnabled = false;
let poolSnapshot: PoolSnapshot = { metrics: {}, workers: {} };
let poolFetchedAt = -Infinity;
let poolRefreshing: Promise<PoolSnapshot> | null = null;
const poolReaders = new Set<string>();

function refreshPool(): Promise<PoolSnapshot> {
  if (!poolRefreshing) {
    const id = nextCallId++;
    poolRefreshing = new Promise<unknown>((resolve, reject) => {
      pendingCalls.set(id, { resolve, reject });
      send({ t: "pool", id });
    })
      .then((v: any) => {
        poolSnapshot = { metrics: v?.metrics ?? {}, workers: v?.workers ?? {} };
        poolFetchedAt = performance.now();
        return poolSnapshot;
      })
      .finally(() => {
        poolRefreshing = null;
      });
  }
  return poolRefreshing;
}

function poolStale(): boolean {
  return performance.now() - poolFetchedAt > POOL_MAX_AGE_MS;
}

/** Sends `header` (given a fresh id) to the core and resolves with its reply. */
function askCore(header: Header, body?: Uint8Array, raw = false): Promise<any> {
  const id = nextCallId++;
  return new Promise((resolve, reject) => {
    pendingCalls.set(id, { resolve, reject, raw });
    send({ ...header, id }, body);
  });
}

/**
 * `ctx.pool.fetch(appDir, workerConfig, request)`: the request goes through the core's worker pool
 * to the app in `appDir` (path as is), `workerConfig` (manifest keys) over its own manifest. The
 * response body is buffered.
 */
async function poolFetch(appDir: string, workerConfig: unknown, request: Request): Promise<Response> {
  const body = hasBody(request.method) ? new Uint8Array(await request.arrayBuffer()) : EMPTY;
  const config = workerConfig && typeof workerConfig === "object" ? safeJson(workerConfig) : null;
  const { h, body: out } = await askCore(
    { t: "poolFetch", dir: String(appDir), config, method: request.method, url: request.url, headers: pairs(request.headers) },
    body,
    true,
  );
  const empty = [101, 204, 205, 304].includes(h.status) || request.method === "HEAD";
  return new Response(empty ? null : (out as Uint8Array<ArrayBuffer>), { status: h.status, headers: h.headers });
}

/** `ctx.resolveApp("name@range")`: the runtime's app resolver → `{name, version, dir, config}` or null. */
function resolveApp(spec: string): Promise<{ name: string; version: string; dir: string; config: Record<string, unknown> } | null> {
  return askCore({ t: "resolveApp", spec: String(spec) });
}

/** What `ctx.pool` is: the snapshot's getters, `refresh()` and `fetch()`. */
function poolHandle() {
  const read = (): PoolSnapshot => {
    if (poolStale()) refreshPool().catch(() => {});
    return poolSnapshot;
  };
  return {
    getMetrics: () => read().metrics,
    getWorkerStats: () => read().workers,
    refresh: (): Promise<PoolSnapshot> => refreshPool(),
    fetch: poolFetch,
  };
}

/** A promise to await before `name` handles a request, when it reads a stale pool snapshot. */
function poolReady(name: string): Promise<unknown> | undefined {
  if (!poolEnabled || !poolReaders.has(name) || !poolStale()) return undefined;
  return refreshPool().catch(() => undefined);
}

function getPlugin(name: string): unknown {
  if (provided.has(name)) return provided.get(name);
  if (nativeServices.has(name)) return nativeProxy(name);
  return undefined;
}

// ---- loading ---------------------------------------------------------------------------------

async function resolveImpl(mod: any, config: Record<string, unknown>): Promise<any> {
  let v: any = mod;
  // A module namespace (or object) with a default export is recursed into; without one, its named
  // exports are the implementation.
  for (let depth = 0; depth < 4 && v && typeof v === "object" && "default" in v && v.default != null; depth++) v = v.default;
  if (typeof v === "function") v = await v(config);
  if (v === null || v === undefined || (typeof v !== "object" && typeof v !== "function")) {
    throw new Error("invalid plugin module structure: export a factory function, a PluginImpl object, or named PluginImpl fields");
  }
  // Module namespaces are frozen; copy so later reads are plain property reads.
  return v[Symbol.toStringTag] === "Module" ? { ...v } : v;
}

async function withMiddleware(impl: any, dir: string, name: string, server: PluginServer): Promise<Loaded["routesFetch"]> {
  const routes = impl.routes;
  if (!routes || typeof routes.fetch !== "function") return undefined;
  // The server is the second argument, as Bun.serve passes it: Hono's `upgradeWebSocket` finds it there.
  const plain = (req: Request) => routes.fetch(req, server);
  if (!impl.middleware) return plain;
  let HonoCtor: any;
  try {
    HonoCtor = (await import(Bun.resolveSync("hono", dir))).Hono;
  } catch (e) {
    log(name, "warn", `middleware ignored: cannot load hono from ${dir}: ${errorInfo(e).message}`);
    return plain;
  }
  const app = new HonoCtor();
  for (const m of Array.isArray(impl.middleware) ? impl.middleware : [impl.middleware]) app.use("*", m);
  app.all("*", (c: any) => routes.fetch(c.req.raw, server));
  return (req: Request) => app.fetch(req, server);
}

async function load(h: Header) {
  const { name, dir, entry, config } = h;
  if (plugins.has(name)) throw new Error(`plugin \`${name}\` is already loaded`);
  addNativeServices(h.services, h.shapes);
  // Variables the runtime withholds from this host unless a manifest opts them in (`allowEnv`).
  for (const [k, v] of Object.entries(h.env ?? {})) process.env[k] = String(v);
  // One budget for the whole load: the import (top-level await), the factory and onInit.
  const budget: number = h.initTimeoutMs ?? 30000;
  const deadline = performance.now() + budget;
  const left = () => deadline - performance.now();
  const mod = await withTimeout(import(entry), left(), "loading", budget);
  const impl = await withTimeout(resolveImpl(mod, config ?? {}), left(), "loading", budget);
  const logger = {
    debug: (m: unknown, meta?: unknown) => log(name, "debug", m, meta),
    info: (m: unknown, meta?: unknown) => log(name, "info", m, meta),
    warn: (m: unknown, meta?: unknown) => log(name, "warn", m, meta),
    error: (m: unknown, meta?: unknown) => log(name, "error", m, meta),
  };
  if (h.pool && !poolEnabled) {
    poolEnabled = true;
    await refreshPool().catch((e) => log(name, "warn", `could not read the worker pool: ${errorInfo(e).message}`));
  }
  const pool = h.pool ? poolHandle() : undefined;
  const ctx = {
    config: config ?? {},
    globalConfig: h.globalConfig,
    logger,
    // Taking the pool marks the plugin as a reader: its requests then get a fresh snapshot.
    get pool() {
      if (pool) poolReaders.add(name);
      return pool;
    },
    getPlugin,
    resolveApp,
    runtime: h.runtime,
  };
  if (typeof impl.onInit === "function") {
    await withTimeout(Promise.resolve(impl.onInit(ctx)), left(), "initialization", budget);
  }
  if (typeof impl.provides === "function") {
    if (provided.has(name)) log(name, "warn", `overwriting the service provided under \`${name}\``);
    provided.set(name, await withTimeout(Promise.resolve(impl.provides()), left(), "loading", budget));
  }
  const server = pluginServer(name);
  const loaded: Loaded = {
    name,
    impl,
    server,
    routesFetch: await withMiddleware(impl, dir, name, server),
    serverFetch: typeof impl.server?.fetch === "function" ? (req) => impl.server.fetch(req) : undefined,
  };
  plugins.set(name, loaded);
  // Menus as onInit left them: the plugin object's `menus`, else the config's (the original's
  // plugins edit `config.menus` in place, e.g. the deployments sub-items).
  const menus = Array.isArray(impl.menus) ? impl.menus : Array.isArray(ctx.config?.menus) ? ctx.config.menus : undefined;
  return {
    menus: menus === undefined ? undefined : safeJson(menus),
    hooks: {
      onRequest: typeof impl.onRequest === "function",
      onResponse: typeof impl.onResponse === "function",
      onShutdown: typeof impl.onShutdown === "function",
      onServerStart: typeof impl.onServerStart === "function",
      onWorkerSpawn: typeof impl.onWorkerSpawn === "function",
      onWorkerTerminate: typeof impl.onWorkerTerminate === "function",
      routes: loaded.routesFetch !== undefined,
      serverFetch: loaded.serverFetch !== undefined,
      provides: provided.has(name) && typeof impl.provides === "function",
    },
  };
}

function plugin(name: string): Loaded {
  const p = plugins.get(name);
  if (!p) throw new Error(`plugin \`${name}\` is not loaded in this host`);
  return p;
}

// ---- dispatch --------------------------------------------------------------------------------

async function handle(h: Header, body: Uint8Array) {
  const id = h.id!;
  const fresh = typeof h.plugin === "string" ? poolReady(h.plugin) : undefined;
  if (fresh) await fresh;
  switch (h.t) {
    case "load":
      return reply(id, await load(h));
    case "services":
      addNativeServices(h.names, h.shapes);
      return reply(id);
    case "fetch": {
      const fn = plugin(h.plugin).serverFetch;
      if (!fn) throw new Error(`plugin \`${h.plugin}\` has no server.fetch`);
      const res = await fn(toRequest(h, body));
      if (!(res instanceof Response)) throw new Error("server.fetch did not return a Response");
      return reply(id, { status: res.status, headers: pairs(res.headers) }, await bytesOf(res));
    }
    case "onRequest": {
      // The hooks of `plugins` (consecutive in the core's order) run here in one round trip: each
      // sees the request the previous one left; the first Response ends the walk. A hook that
      // throws is skipped (fail-open, as in the original); the core logs it.
      const names: string[] = h.plugins ?? [h.plugin];
      let head: Header = h;
      let bytes = body;
      let replaced = false;
      const errors: { index: number; message: string; stack?: string }[] = [];
      for (let i = 0; i < names.length; i++) {
        const fresh = i > 0 ? poolReady(names[i]) : undefined;
        if (fresh) await fresh;
        let out: unknown;
        try {
          out = await plugin(names[i]).impl.onRequest(toRequest(head, bytes), h.app ?? undefined);
        } catch (e) {
          errors.push({ index: i, ...errorInfo(e) });
          continue;
        }
        if (out instanceof Response) {
          return reply(id, { action: "respond", by: i, errors, status: out.status, headers: pairs(out.headers) }, await bytesOf(out));
        }
        if (out instanceof Request) {
          bytes = await bytesOf(out);
          head = { t: "onRequest", method: out.method, url: out.url, headers: pairs(out.headers) };
          replaced = true;
        }
      }
      if (replaced) return reply(id, { action: "replace", errors, method: head.method, url: head.url, headers: head.headers }, bytes);
      return reply(id, { action: "continue", errors });
    }
    case "onResponse": {
      // A streaming body stays in the core: the hooks get a stand-in stream, and a response that
      // keeps it (the same Response, or `new Response(res.body, …)`) keeps the live body. The
      // hooks of `plugins` run in order, each on the response the previous one returned.
      const names: string[] = h.plugins ?? [h.plugin];
      const live = h.live ? liveBody() : undefined;
      const init = live ?? (body.length > 0 ? (body as Uint8Array<ArrayBuffer>) : null);
      const first = new Response(init, { status: h.status, headers: h.headers });
      const same = first.body;
      let final = first;
      for (let i = 0; i < names.length; i++) {
        const fresh = i > 0 ? poolReady(names[i]) : undefined;
        if (fresh) await fresh;
        let out: unknown;
        try {
          out = await plugin(names[i]).impl.onResponse(final, h.app ?? undefined);
        } catch (e) {
          return reply(id, { action: "error", by: i, ...errorInfo(e) });
        }
        if (out instanceof Response) final = out;
      }
      if (final === first || (same !== null && final.body === same)) {
        return reply(id, { action: "replace", status: final.status, headers: pairs(final.headers), keepBody: true });
      }
      return reply(id, { action: "replace", status: final.status, headers: pairs(final.headers) }, await bytesOf(final));
    }
    case "invoke": {
      const svc: any = provided.get(h.plugin);
      const fn = svc?.[h.method];
      if (typeof fn !== "function") throw new Error(`plugin \`${h.plugin}\` provides no method \`${h.method}\``);
      const value = await fn.apply(svc, h.args ?? []);
      return reply(id, { value: value === undefined ? null : safeJson(value) });
    }
    case "onServerStart":
      {
        const p = plugin(h.plugin);
        Object.assign(p.server, { hostname: h.server?.hostname, port: h.server?.port, url: h.server?.url ? new URL(h.server.url) : undefined });
        await p.impl.onServerStart?.(p.server);
      }
      return reply(id);
    case "onShutdown":
      await plugin(h.plugin).impl.onShutdown?.();
      return reply(id);
    case "onWorkerSpawn":
      await plugin(h.plugin).impl.onWorkerSpawn?.(h.worker);
      return reply(id);
    case "onWorkerTerminate":
      await plugin(h.plugin).impl.onWorkerTerminate?.(h.worker);
      return reply(id);
    case "ping":
      return reply(id);
    default:
      throw new Error(`unknown message type \`${h.t}\``);
  }
}

function dispatch(h: Header, body: Uint8Array) {
  if (!welcomed) {
    if (h.t === "welcome") {
      welcomed = true;
      return;
    }
    console.error(`[plugin-host] handshake refused: ${h.reason ?? JSON.stringify(h)}`);
    process.exit(3);
  }
  switch (h.t) {
    case "ok":
    case "error": {
      const p = pendingCalls.get(h.id!);
      if (!p) return;
      pendingCalls.delete(h.id!);
      if (h.t !== "ok") return p.reject(new Error(h.message));
      return p.resolve(p.raw ? { h, body } : h.value);
    }
    case "exit":
      return shutdownAndExit();
    default:
      handle(h, body).catch((e) => replyError(h.id!, e));
  }
}

function shutdownAndExit() {
  try {
    sock?.end();
  } finally {
    process.exit(0);
  }
}

// ---- routes over HTTP -------------------------------------------------------------------------

const PLUGIN_HEADER = "x-buntime-plugin";
// Set on a 500 this host made because the route threw; the core answers its own JSON 500.
const ROUTE_ERROR_HEADER = "x-buntime-route-error";

function routeError(name: string, e: unknown): Response {
  const { message, stack } = errorInfo(e);
  log(name, "error", `routes.fetch failed: ${message}`, stack === undefined ? undefined : { stack });
  return new Response(null, { status: 500, headers: { [ROUTE_ERROR_HEADER]: "1" } });
}

function checked(name: string, res: unknown): Response {
  if (res instanceof Response) return res;
  return routeError(name, new Error("routes.fetch did not return a Response"));
}

function serveRoute(req: Request): Response | Promise<Response> {
  const name = req.headers.get(PLUGIN_HEADER) ?? "";
  const fn = plugins.get(name)?.routesFetch;
  if (!fn) return routeError(name, new Error(`plugin \`${name}\` has no routes in this host`));
  req.headers.delete(PLUGIN_HEADER);
  const wait = poolReady(name);
  if (wait) return wait.then(() => callRoute(name, fn, req));
  return callRoute(name, fn, req);
}

function callRoute(name: string, fn: NonNullable<Loaded["routesFetch"]>, req: Request): Response | Promise<Response> {
  let out: unknown;
  try {
    out = fn(req);
  } catch (e) {
    return routeError(name, e);
  }
  // After `server.upgrade(req)` Bun wants nothing back (Hono answers an empty Response: ignored).
  if (upgraded.has(req)) return undefined as unknown as Response;
  if (out instanceof Response) return out;
  return Promise.resolve(out).then(
    (res) => (upgraded.has(req) ? (undefined as unknown as Response) : checked(name, res)),
    (e) => routeError(name, e),
  );
}

// ---- WebSockets -------------------------------------------------------------------------------
// The runtime relays a plugin route's upgrade to this host's Bun.serve; the plugin accepts it with
// `server.upgrade(req, { data, headers })` (the server of `onServerStart`, or the second argument
// of `routes.fetch`, where Hono's `upgradeWebSocket` looks), and its `websocket` handlers get the
// socket. Sockets of all the host's plugins share one Bun.serve, so each remembers its plugin.

interface PluginServer {
  hostname?: string;
  port?: number;
  url?: URL;
  upgrade(req: Request, options?: { data?: unknown; headers?: HeadersInit }): boolean;
  publish(topic: string, message: string | ArrayBufferView | ArrayBuffer, compress?: boolean): number;
  subscriberCount(topic: string): number;
}

interface SocketData {
  plugin: string;
  data: unknown;
}

let hostServer: any = null;
const upgraded = new WeakSet<Request>();
const socketViews = new WeakMap<object, unknown>();

function pluginServer(name: string): PluginServer {
  return {
    upgrade(req, options) {
      if (!hostServer) return false;
      const data: SocketData = { plugin: name, data: options?.data };
      const ok = hostServer.upgrade(req, { data, headers: options?.headers });
      if (ok) upgraded.add(req);
      return ok;
    },
    publish: (topic, message, compress) => hostServer?.publish(topic, message, compress) ?? 0,
    subscriberCount: (topic) => hostServer?.subscriberCount?.(topic) ?? 0,
  };
}

// The socket as its plugin sees it: Bun's ServerWebSocket whose `data` is what the plugin passed.
function socketView(ws: any): any {
  let view = socketViews.get(ws);
  if (!view) {
    view = new Proxy(ws, {
      get(target, key) {
        if (key === "data") return (target.data as SocketData).data;
        const v = Reflect.get(target, key);
        return typeof v === "function" ? v.bind(target) : v;
      },
      set(target, key, value) {
        if (key === "data") {
          (target.data as SocketData).data = value;
          return true;
        }
        return Reflect.set(target, key, value);
      },
    });
    socketViews.set(ws, view);
  }
  return view;
}

function socketEvent(event: "open" | "message" | "close" | "drain", ws: any, ...args: unknown[]) {
  const name = (ws.data as SocketData).plugin;
  const handlers = plugins.get(name)?.impl.websocket;
  const fn = handlers?.[event];
  if (typeof fn !== "function") {
    if (event === "open" && !handlers) ws.close(1011, `plugin ${name} has no websocket handlers`);
    return;
  }
  try {
    const r = fn.call(handlers, socketView(ws), ...args);
    if (typeof r?.catch === "function") r.catch((e: unknown) => log(name, "error", `websocket ${event} failed: ${errorInfo(e).message}`));
  } catch (e) {
    log(name, "error", `websocket ${event} failed: ${errorInfo(e).message}`);
  }
}

const websocket = {
  open: (ws: any) => socketEvent("open", ws),
  message: (ws: any, message: unknown) => socketEvent("message", ws, message),
  close: (ws: any, code: number, reason: string) => socketEvent("close", ws, code, reason),
  drain: (ws: any) => socketEvent("drain", ws),
};

// ---- main ------------------------------------------------------------------------------------

process.on("unhandledRejection", (reason) => {
  console.error("[plugin-host] unhandled rejection:", reason);
});
process.on("uncaughtException", (err) => {
  console.error("[plugin-host] uncaught exception:", err);
});

const path = process.env.BUNTIME_HOST_SOCKET;
if (!path) {
  console.error("[plugin-host] BUNTIME_HOST_SOCKET is not set; this script is started by the Buntime runtime");
  process.exit(2);
}

const httpPath = process.env.BUNTIME_HOST_HTTP_SOCKET;
if (httpPath) {
  const options = {
    unix: httpPath,
    // Keep-alive connections are pooled by the core and SSE responses may idle: no idle timeout.
    // (Bun applies it to Unix sockets too; bun-types only declares it for TCP, hence the cast.)
    idleTimeout: 0,
    // The core enforces each target's body limit before a request gets here.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    fetch: serveRoute,
    websocket,
    error: (e: Error) => routeError("(unknown)", e),
  };
  hostServer = Bun.serve(options as unknown as Parameters<typeof Bun.serve>[0]);
}

sock = await Bun.connect({
  unix: path,
  socket: {
    data: (_s, chunk) => onData(chunk),
    drain: () => onDrain(),
    close: () => process.exit(0),
    error: (_s, e) => {
      console.error("[plugin-host] socket error:", e);
      process.exit(1);
    },
  },
});
delete process.env.BUNTIME_HOST_SOCKET;
delete process.env.BUNTIME_HOST_HTTP_SOCKET;
send({ t: "hello", protocol: { min: PROTOCOL_MIN, max: PROTOCOL_MAX }, bun: Bun.version, pid: process.pid });
