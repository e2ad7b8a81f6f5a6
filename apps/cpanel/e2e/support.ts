/** Starts the real `buntime` binary on a free port with a temp state dir, and a headless Chromium. */
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type Browser, type BrowserContext } from "playwright-core";

export const REPO = resolve(import.meta.dir, "../../..");
const SHELL = resolve(import.meta.dir, "..");
const BIN = join(REPO, "target/debug/buntime");
const BUN = join(REPO, ".tools/node_modules/bun/bin/bun.exe");
export const CHROMIUM = "/usr/bin/chromium";

/** Whether the browser tests can run; without Chromium they skip, except under CI where they fail. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing and CI is set: install it (apt-get install -y --no-install-recommends chromium)`);
  console.log("skipping: chromium not installed");
  return false;
}

export interface Runtime {
  url: string;
  masterKey: string;
  dir: string;
  stop(): Promise<void>;
}

/** A UI-only plugin (a manifest and an HTML entrypoint) whose page shows its path and changes it. */
const DEMO_MANIFEST = `name: "@e2e/plugin-demo"
version: "1.0.0"
base: /demo
entrypoint: index.html
injectBase: true
menus:
  - title: Demo
    icon: lucide:rocket
    path: /demo
    items:
      - { title: "demo:nav.secondPage", icon: "lucide:no-such-icon", path: /demo/second }
`;
const DEMO_HTML = `<!doctype html><html><head><title>demo</title></head><body>
<h1 id="where"></h1>
<a id="to-third" href="/demo/third">third (full load)</a>
<button id="to-fourth" type="button">fourth (pushState)</button>
<script>
  const paint = () => { document.getElementById("where").textContent = location.pathname; };
  document.getElementById("to-fourth").onclick = () => { history.pushState(null, "", "/demo/fourth"); paint(); };
  addEventListener("popstate", paint);
  paint();
</script></body></html>`;

/**
 * Builds the shell from source, then starts the runtime in production mode (a key is required).
 * `prepare` may add plugin dirs under `<dir>/plugins` first: they shadow the repo's of the same name.
 */
export async function startRuntime(opts: { prepare?: (dir: string) => Promise<void> } = {}): Promise<Runtime> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`cargo build -p buntime-cli\` first`);
  const built = Bun.spawnSync([BUN, join(SHELL, "build.ts")], { stdout: "pipe", stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`the shell did not build: ${built.stderr.toString()}`);
  // The bundled plugins' UIs, served at their bases from the repo's plugins/*/ui/dist.
  const uis = Bun.spawnSync([BUN, join(REPO, "scripts/build-plugin-uis.ts")], { stdout: "pipe", stderr: "pipe" });
  if (uis.exitCode !== 0) throw new Error(`the plugin UIs did not build: ${uis.stderr.toString()}`);

  const dir = await mkdtemp(join(tmpdir(), "buntime-ui-e2e-"));
  // The shell is served from a worker dir of its own, so uploads and deletes never touch the repo.
  await mkdir(join(dir, "apps/cpanel"), { recursive: true });
  await cp(join(SHELL, "manifest.yaml"), join(dir, "apps/cpanel/manifest.yaml"));
  await cp(join(SHELL, "dist"), join(dir, "apps/cpanel/dist"), { recursive: true });
  await mkdir(join(dir, "plugins/demo"), { recursive: true });
  await writeFile(join(dir, "plugins/demo/manifest.yaml"), DEMO_MANIFEST);
  await writeFile(join(dir, "plugins/demo/index.html"), DEMO_HTML);
  // A link out of the plugin's dir: the runtime refuses to serve it (403), which the shell must show.
  await mkdir(join(dir, "outside"));
  await writeFile(join(dir, "outside/index.html"), "<h1>outside the plugin</h1>");
  await symlink(join(dir, "outside"), join(dir, "plugins/demo/private"));

  await opts.prepare?.(dir);

  const masterKey = `e2e-master-${crypto.randomUUID()}`;
  const child = Bun.spawn([BIN], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      PORT: "0",
      RUNTIME_HOST: "127.0.0.1",
      NODE_ENV: "production",
      RUNTIME_LOG_FORMAT: "json",
      RUNTIME_LOG_LEVEL: "info",
      RUNTIME_PLUGIN_DIRS: `${join(dir, "plugins")}:${join(REPO, "plugins")}`,
      RUNTIME_WORKER_DIRS: join(dir, "apps"),
      RUNTIME_STATE_DIR: join(dir, "state"),
      RUNTIME_MASTER_KEY: masterKey,
      RUNTIME_SHUTDOWN_GRACE_MS: "2000",
      BUNTIME_BUN: BUN,
    },
    stdout: "pipe",
    stderr: "ignore",
  });
  const url = await readyUrl(child.stdout);
  return {
    url,
    masterKey,
    dir,
    async stop() {
      child.kill();
      await child.exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Reads JSON log lines until `Runtime ready.` (30 s at most) and returns the listening URL. */
async function readyUrl(stdout: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  const seen: string[] = [];
  let url: string | undefined;
  let buffer = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      seen.push(line);
      let entry: Record<string, unknown> = {};
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (entry.message === "Runtime listening; loading plugins.") url = String(entry.url).replace("0.0.0.0", "127.0.0.1");
      if (entry.message === "Runtime ready." && url) {
        // Keep draining the pipe so the runtime never blocks on a full stdout.
        void (async () => {
          while (!(await reader.read()).done) {}
        })();
        return url;
      }
    }
  }
  throw new Error(`the runtime did not get ready:\n${seen.join("\n")}`);
}

/** Headless Chromium from the system (no browser download); `--no-sandbox` only when root. */
export function launch(): Promise<Browser> {
  keepProtocolOrder();
  const args = process.getuid?.() === 0 ? ["--no-sandbox"] : [];
  return chromium.launch({ executablePath: CHROMIUM, args });
}

/** The context every test starts from: a 1440×900 desktop, English, UTC (screenshots stay comparable). */
export function desktopContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1440, height: 900 }, locale: "en-US", timezoneId: "UTC" });
}

/** One end of Playwright's in-process bridge (its client `Connection` or server `DispatcherConnection`). */
interface BridgeEnd {
  dispatch(message: unknown): unknown;
  onmessage: (message: unknown) => void;
  toImpl?: (x: unknown) => BridgeEnd | undefined;
}

let ordered = false;

/**
 * Playwright drives the browser from this process through an in-process bridge that hands each
 * protocol message to the other side with a `setImmediate` of its own. Under Bun on a loaded
 * machine those callbacks were seen to run out of order (`DEBUG=pw:channel`: a response's
 * `__create__` dispatched 170 ms before its request's), which broke the connection for the rest of
 * a file ("Cannot find parent object …", "Object with guid … was not bound"). This hands messages
 * over as microtasks instead, which run in the order queued: still never inside the sender's call
 * (no re-entrancy), always in the order sent. A Playwright without that bridge is left as it is.
 */
function keepProtocolOrder() {
  if (ordered) return;
  ordered = true;
  const client = (chromium as unknown as { _connection?: BridgeEnd })._connection;
  const server = client?.toImpl?.(client);
  if (!client || !server || typeof client.dispatch !== "function" || typeof server.dispatch !== "function") return;
  server.onmessage = (m) => queueMicrotask(() => void client.dispatch(m));
  client.onmessage = (m) => queueMicrotask(() => void server.dispatch(m));
}

/** Where the tests write screenshots: `ADMIN_UI_SCREENSHOTS`, else a fresh temp dir. */
export async function screenshotDir(): Promise<string> {
  const dir = process.env.ADMIN_UI_SCREENSHOTS ?? (await mkdtemp(join(tmpdir(), "buntime-admin-ui-")));
  await mkdir(dir, { recursive: true });
  return dir;
}
