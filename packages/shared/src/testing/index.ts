/**
 * Test helpers for Buntime plugins: a mock logger that records lines, a mock pool and a mock
 * `PluginContext`, for use with `bun:test`.
 */
import type { GlobalConfig, PluginContext, PluginLogger, PoolMetrics, WorkerPool } from "../types.ts";

/** One line recorded by {@link createMockLogger}. */
export interface LogEntry {
  level: "debug" | "info" | "warn" | "error";
  message: string;
  meta?: Record<string, unknown>;
}

/** A logger that keeps its lines in `entries`. */
export interface MockLogger extends PluginLogger {
  entries: LogEntry[];
  clear(): void;
}

/** Creates a logger that records every line instead of printing it. */
export function createMockLogger(): MockLogger {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry["level"]) => (message: string, meta?: Record<string, unknown>) => {
    entries.push(meta === undefined ? { level, message } : { level, message, meta });
  };
  return {
    entries,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    clear() {
      entries.length = 0;
    },
  };
}

/** Creates a pool whose metrics and stats are the given objects. */
export function createMockPool(metrics: PoolMetrics = {}, stats: Record<string, unknown> = {}): WorkerPool {
  return {
    getMetrics: () => ({ activeWorkers: 0, totalRequests: 0, ...metrics }),
    getWorkerStats: () => ({ ...stats }),
    refresh: async () => ({ metrics: { activeWorkers: 0, totalRequests: 0, ...metrics }, workers: { ...stats } }),
  };
}

/** Options for {@link createMockContext}. */
export interface MockContextOptions {
  config?: Record<string, unknown>;
  globalConfig?: Partial<GlobalConfig>;
  /** Services returned by `getPlugin(name)`. */
  plugins?: Record<string, unknown>;
  /** The pool (`ctx.pool`); a mock by default, `null` for a runtime that hosts no apps. */
  pool?: WorkerPool | null;
  logger?: MockLogger;
  runtime?: { api?: string; version?: string };
}

/** A context plus the mock logger it logs to. */
export type MockContext = PluginContext & { logger: MockLogger };

/** Creates a `PluginContext` for tests. */
export function createMockContext(options: MockContextOptions = {}): MockContext {
  const plugins = options.plugins ?? {};
  return {
    config: options.config ?? {},
    globalConfig: { pluginDirs: [], workerDirs: [], poolSize: 5, ...options.globalConfig },
    logger: options.logger ?? createMockLogger(),
    pool: options.pool === null ? undefined : (options.pool ?? createMockPool()),
    runtime: { api: options.runtime?.api ?? "/api", version: options.runtime?.version ?? "0.0.0-test" },
    getPlugin<T>(name: string): T | undefined {
      return plugins[name] as T | undefined;
    },
  };
}
