/** Watch: a live feed of the changes under a prefix (SSE from `api/watch/prefix`). */
import { button, field, h, url, type PageContext, type PluginPage } from "@buntime/ui";
import { formatKey, parseKey, prefixQuery, type Entry } from "../keys.ts";

/** Changes kept on screen; older ones scroll away. */
const KEEP = 200;

export const watch: PluginPage = {
  path: "watch",
  title: "Watch",
  render(cx: PageContext) {
    const prefixText = cx.params.get("prefix") ?? "";
    const input = h("input", { name: "prefix", value: prefixText, placeholder: "users", autocomplete: "off", spellcheck: "false", required: true });
    const status = h("p", { class: "ui-muted", role: "status", "data-testid": "watch-status" }, "Not watching.");
    const feed = h("ol", { class: "ui-feed", "aria-label": "Changes, newest first", "data-testid": "feed" });
    let source: EventSource | null = null;

    function stop(text = "Stopped.") {
      source?.close();
      source = null;
      status.textContent = text;
      toggle.querySelector("span")!.textContent = "Watch";
    }

    function start() {
      let prefix;
      try {
        prefix = parseKey(input.value);
      } catch (e) {
        status.textContent = (e as Error).message;
        return;
      }
      source?.close();
      cx.setParams({ prefix: input.value.trim() });
      // initial=false: only what changes from now on, not the entries already there.
      const es = new EventSource(url(`api/watch/prefix?prefix=${encodeURIComponent(prefixQuery(prefix))}&initial=false`));
      source = es;
      toggle.querySelector("span")!.textContent = "Stop";
      status.textContent = `Connecting to the changes under ${formatKey(prefix)}…`;
      es.onopen = () => { status.textContent = `Watching ${formatKey(prefix)}: changes appear here as they are committed.`; };
      es.onerror = () => { if (source === es) status.textContent = "The feed was interrupted; reconnecting…"; };
      es.addEventListener("change", (ev) => {
        const changes = JSON.parse((ev as MessageEvent<string>).data) as Entry[];
        const at = new Date().toLocaleTimeString();
        for (const c of changes) {
          const deleted = c.versionstamp === null;
          feed.prepend(h("li", { "data-testid": "change" },
            h("span", { class: "ui-muted" }, `${at} `),
            h("strong", { class: deleted ? "ui-bad" : "ui-ok" }, deleted ? "deleted " : "set "),
            formatKey(c.key),
            deleted ? null : h("span", {}, ` = ${JSON.stringify(c.value)}`)));
        }
        while (feed.children.length > KEEP) feed.lastElementChild!.remove();
      });
    }

    const toggle = button("Watch", () => (source ? stop() : start()), { variant: "primary", icon: "eye" });
    const form = h("form", { class: "ui-toolbar", onsubmit: (ev: Event) => { ev.preventDefault(); start(); } },
      field("Prefix", input, "Every set and delete of an entry under it (and of the key itself) is shown."),
      toggle,
      button("Clear", () => feed.replaceChildren(), { variant: "ghost" }));
    cx.signal.addEventListener("abort", () => source?.close());
    if (prefixText) queueMicrotask(start);
    return h("div", {}, h("h1", {}, "Watch"), form, status, feed);
  },
};
