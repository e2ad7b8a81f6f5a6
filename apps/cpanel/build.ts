/** Builds the shell into dist/ (served by the runtime at /cpanel): one minified JS and CSS bundle. */
import { rm } from "node:fs/promises";

const here = import.meta.dir;
await rm(`${here}/dist`, { recursive: true, force: true });
const result = await Bun.build({
  entrypoints: [`${here}/src/index.html`],
  outdir: `${here}/dist`,
  minify: true,
  target: "browser",
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
for (const out of result.outputs) console.log(`  ${out.path.slice(here.length + 1)} ${out.size} bytes`);
