/**
 * Types for Buntime plugins: what a plugin module exports (`PluginImpl`) and what it receives
 * (`PluginContext`). Type-only: importing this module adds no runtime code.
 */
import type { Hono, MiddlewareHandler } from "hono";

/** Log methods handed to a plugin; lines appear in the runtime's log tagged with the plugin name. */
export interface PluginLogger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

/** Directories and sizes the runtime was started with (`ctx.globalConfig`). */
export interface GlobalConfig {
  pluginDirs: string[];
  workerDirs: string[];
  poolSize: number;
  /** Where runtime state lives (`RUNTIME_STATE_DIR`); plugins that keep files put them under it. */
  stateDir?: string;
}

/** The runtime's REST API path and version (`ctx.runtime`). */
export interface RuntimeInfo {
  api: string;
  version: string;
}

/** Pool metrics (spec §9.8); shapes are left open on purpose. */
export interface PoolMetrics {
  [key: string]: unknown;
}

/** Pool metrics and per-worker stats read together (`ctx.pool.refresh()`). */
export interface PoolSnapshot {
  metrics: PoolMetrics;
  workers: Record<string, unknown>;
}

/**
 * What plugins see of the worker pool (`ctx.pool`). In a TypeScript plugin the getters return a
 * snapshot: at most 100 ms old while the plugin handles a request, refreshed in the background
 * when read from elsewhere (timers); `refresh()` fetches a current one.
 */
export interface WorkerPool {
  getMetrics(): PoolMetrics;
  getWorkerStats(): Record<string, unknown>;
  /** Fetches current metrics and stats (Buntime; absent in the original runtime). */
  refresh?(): Promise<PoolSnapshot>;
}

/** A public-routes declaration: globs for every method, or per method. */
export type PublicRoutesConfig =
  | string[]
  | Partial<Record<"ALL" | "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS", string[]>>;

/** The worker configuration of an app (spec §9.1). */
export interface WorkerConfig {
  autoInstall?: boolean;
  entrypoint?: string;
  env?: Record<string, string>;
  envPrefix?: string[];
  idleTimeout?: number;
  injectBase?: boolean;
  lowMemory?: boolean;
  maxBodySize?: number | string;
  maxRequests?: number;
  publicRoutes?: PublicRoutesConfig;
  timeout?: number;
  ttl?: number;
  [key: string]: unknown;
}

/** The app a request resolves to, passed to `onRequest` and `onResponse`. */
export interface AppInfo {
  name: string;
  version: string;
  dir: string;
  config: WorkerConfig;
}

/** What `onInit` receives. */
export interface PluginContext {
  /** The plugin options: the manifest minus identity keys (unknown keys are here). */
  config: Record<string, unknown>;
  globalConfig: GlobalConfig;
  logger: PluginLogger;
  /** The worker pool, once apps are hosted; may be undefined. */
  pool?: WorkerPool;
  /**
   * Another plugin's `provides()` value. JS plugins get the value itself; a native (Rust) plugin's
   * service comes as a proxy whose methods return promises.
   */
  getPlugin<T = unknown>(name: string): T | undefined;
  runtime: RuntimeInfo;
}

/** What a plugin's `server` field may hold. */
export interface PluginServer {
  /** Receives the unstripped request after `onRequest`; a non-404 answer is final. */
  fetch?: (req: Request) => Response | Promise<Response>;
  routes?: Record<string, unknown>;
}

/** What a plugin module provides (the default export's factory result, or the module itself). */
export interface PluginImpl {
  /** A Hono app (or anything with `fetch`) mounted at the manifest's `base`, which it sees stripped. */
  routes?: Hono<any, any, any>;
  /** Hono middleware run around this plugin's routes. */
  middleware?: MiddlewareHandler | MiddlewareHandler[];
  /** Runs once when the plugin loads (30 s timeout). */
  onInit?: (ctx: PluginContext) => void | Promise<void>;
  /** Runs when the plugin's generation retires or the runtime stops (reverse load order). */
  onShutdown?: () => void | Promise<void>;
  /** Runs once when the runtime starts listening. */
  onServerStart?: (server?: unknown) => void | Promise<void>;
  /** A `Response` short-circuits, a `Request` replaces the request, `undefined` continues. */
  onRequest?: (
    req: Request,
    app?: AppInfo,
  ) => Request | Response | undefined | void | Promise<Request | Response | undefined | void>;
  /** May return a replacement response. */
  onResponse?: (res: Response, app?: AppInfo) => Response | undefined | void | Promise<Response | undefined | void>;
  /** The value other plugins get with `ctx.getPlugin(name)`. */
  provides?: () => unknown;
  server?: PluginServer;
  /** Overrides, as in the original (the manifest's values otherwise). */
  name?: string;
  base?: string;
  [key: string]: unknown;
}

/** A plugin module's default export: a factory (sync or async) called with the plugin options. */
export type PluginFactory = (config: Record<string, unknown>) => PluginImpl | Promise<PluginImpl>;
