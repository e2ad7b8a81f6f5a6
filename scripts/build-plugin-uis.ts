/**
 * Builds every bundled plugin's UI: `plugins/<plugin>/ui/src/index.html` → `plugins/<plugin>/ui/dist/`
 * (minified, one JS and one CSS file per UI), which the plugin's manifest serves as its
 * `entrypoint`. Run by scripts/setup.sh; `bun scripts/build-plugin-uis.ts [plugin-dir…]` builds
 * some. Fails when a UI's JS goes over the 200 KB gzipped budget of a page.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { gzipSync } from "node:zlib";

const REPO = resolve(import.meta.dir, "..");
const BUDGET_GZIP_BYTES = 200 * 1024;

const wanted = process.argv.slice(2).map((p) => resolve(p));
const dirs = (wanted.length ? wanted : readdirSync(join(REPO, "plugins")).map((d) => join(REPO, "plugins", d)))
  .filter((d) => existsSync(join(d, "ui/src/index.html")));

let failed = false;
for (const dir of dirs) {
  const out = join(dir, "ui/dist");
  await rm(out, { recursive: true, force: true });
  const result = await Bun.build({ entrypoints: [join(dir, "ui/src/index.html")], outdir: out, minify: true, target: "browser" });
  if (!result.success) {
    console.error(`${relative(REPO, dir)}: the UI did not build`);
    for (const log of result.logs) console.error(log);
    failed = true;
    continue;
  }
  let js = 0;
  for (const file of result.outputs) {
    if (file.path.endsWith(".js")) js += gzipSync(readFileSync(file.path)).length;
  }
  const sizes = result.outputs.map((o) => `${relative(out, o.path)} ${o.size} B`).join(", ");
  console.log(`  ${relative(REPO, out)}: ${sizes}; JS ${(js / 1024).toFixed(1)} KB gzipped`);
  if (js > BUDGET_GZIP_BYTES) {
    console.error(`${relative(REPO, dir)}: ${(js / 1024).toFixed(1)} KB of gzipped JS is over the 200 KB budget of a page`);
    failed = true;
  }
}
if (failed) process.exit(1);
