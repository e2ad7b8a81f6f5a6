/**
 * Starts the real `buntime` binary for end-to-end tests of the client packages: any free port on
 * 127.0.0.1, a temporary state dir, the repository's `plugins/`, and waits until it is ready.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The repository root (this file is `packages/shared/src/testing/runtime.ts`). */
export const REPO_ROOT = resolve(import.meta.dir, "../../../..");

/** Options of {@link startRuntime}. */
export interface StartRuntimeOptions {
  /** The binary; default `$BUNTIME_BIN`, else `<repo>/target/debug/buntime`. */
  bin?: string;
  /** Plugin directories (colon-joined into `RUNTIME_PLUGIN_DIRS`); default `<repo>/plugins`. */
  pluginDirs?: string[];
  /** App directories (`RUNTIME_WORKER_DIRS`); default an empty `apps/` in the temp dir. */
  workerDirs?: string[];
  /** More environment variables; they override the defaults above. */
  env?: Record<string, string>;
  /** How long to wait for `Runtime ready.`; default 30 s. */
  readyTimeoutMs?: number;
}

/** A started runtime. */
export interface RunningRuntime {
  /** Its origin, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** The temporary directory holding its state (removed by `stop`). */
  dir: string;
  /** Every log line so far (JSON text), startup included. */
  logs: string[];
  /** The plugins `/api/plugins/loaded` lists, by name. */
  loadedPlugins(): Promise<string[]>;
  /** Kills the process, waits for it and removes the temporary directory. */
  stop(): Promise<void>;
}

/** Returns the binary the tests run, or throws telling how to build it. */
export function runtimeBinary(bin?: string): string {
  const path = bin ?? process.env.BUNTIME_BIN ?? join(REPO_ROOT, "target/debug/buntime");
  if (!existsSync(path)) {
    throw new Error(`the runtime binary ${path} is missing: run \`cargo build -p buntime-cli\` at the repository root first`);
  }
  return path;
}

/**
 * Spawns the runtime with a clean environment (only `PATH` is inherited) and resolves once it
 * logs `Runtime ready.` and `/api/health/ready` answers 200.
 */
export async function startRuntime(options: StartRuntimeOptions = {}): Promise<RunningRuntime> {
  const bin = runtimeBinary(options.bin);
  const dir = mkdtempSync(join(tmpdir(), "buntime-e2e-"));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    PORT: "0",
    RUNTIME_HOST: "127.0.0.1",
    RUNTIME_LOG_FORMAT: "json",
    RUNTIME_LOG_LEVEL: "info",
    RUNTIME_PLUGIN_DIRS: (options.pluginDirs ?? [join(REPO_ROOT, "plugins")]).join(":"),
    RUNTIME_WORKER_DIRS: (options.workerDirs ?? [join(dir, "apps")]).join(":"),
    RUNTIME_STATE_DIR: join(dir, "state"),
    ...options.env,
  };
  // The working directory is the temp dir, so no stray `.env` of the caller is read.
  const child = Bun.spawn([bin], { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
  const logs: string[] = [];
  let url: string | undefined;
  let ready = false;

  // Keep draining stdout for the process's whole life: a full pipe would block the runtime.
  const pump = (async () => {
    const decoder = new TextDecoder();
    let pending = "";
    const reader = child.stdout.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let nl = pending.indexOf("\n");
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        logs.push(line);
        try {
          const record = JSON.parse(line) as { message?: string; url?: string };
          if (record.message === "Runtime listening; loading plugins." && record.url) url = record.url.replace("0.0.0.0", "127.0.0.1");
          if (record.message === "Runtime ready.") ready = true;
        } catch {
          // Not JSON (a panic message, say): kept in `logs` for the failure report.
        }
        nl = pending.indexOf("\n");
      }
    }
  })();
  const stderr = new Response(child.stderr).text();

  const stop = async () => {
    child.kill();
    await child.exited;
    await pump.catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  while (!(ready && url)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const why = child.exitCode !== null ? `exited with ${child.exitCode}` : "did not get ready in time";
      await stop();
      throw new Error(`the runtime ${why}\nstdout:\n${logs.join("\n")}\nstderr:\n${await stderr}`);
    }
    await Bun.sleep(20);
  }
  const origin = url;
  const health = await fetch(`${origin}/api/health/ready`);
  if (health.status !== 200) {
    await stop();
    throw new Error(`/api/health/ready answered ${health.status}: ${await health.text()}`);
  }

  return {
    url: origin,
    dir,
    logs,
    async loadedPlugins() {
      const res = await fetch(`${origin}/api/plugins/loaded`);
      if (!res.ok) throw new Error(`/api/plugins/loaded answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { name: string }[]).map((p) => p.name);
    },
    stop,
  };
}
