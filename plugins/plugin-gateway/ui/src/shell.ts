/** The app shell's excludes: apps (first path segments) the shell never takes; add and remove. */
import { button, field, h, replace, table, toast, HttpError, type PluginPage } from "@buntime/ui";
import { call } from "./api.ts";
import { time } from "./shared.ts";

interface Exclude { basename: string; source: "env" | "keyval"; addedAt?: number }

const NAME = /^[a-zA-Z0-9_-]+$/;

export const shell: PluginPage = {
  path: "shell",
  title: "Shell",
  async render() {
    let excludes: Exclude[];
    try {
      excludes = await call<Exclude[]>("api/shell/excludes");
    } catch (e) {
      if (e instanceof HttpError && e.status === 400) {
        return h("div", {}, h("h1", {}, "App shell"),
          h("p", { class: "ui-card", "data-testid": "shell-off" }, "The app shell is off: browser navigations go straight to their apps. Set shellDir in the gateway's manifest (or GATEWAY_SHELL_DIR) to an app such as cpanel to turn it on; its excludes are managed here then."));
      }
      throw e;
    }
    const list = h("div", {});
    const input = h("input", { name: "basename", autocomplete: "off", spellcheck: "false", placeholder: "docs", required: true, pattern: NAME.source });
    const problem = h("p", { class: "ui-alert", role: "alert", hidden: true });

    function paint() {
      replace(list, table<Exclude>([
        { title: "App", cell: (x) => h("code", { "data-testid": "exclude" }, x.basename) },
        { title: "From", cell: (x) => (x.source === "env" ? h("span", { class: "ui-muted" }, "the manifest or GATEWAY_SHELL_EXCLUDES (read-only)") : `added here${x.addedAt ? ` at ${time(x.addedAt)}` : ""}`) },
        {
          title: "Actions",
          cell: (x) => (x.source === "env" ? h("span", { class: "ui-muted" }, "—") : button("Remove", async () => {
            try {
              await call(`api/shell/excludes/${encodeURIComponent(x.basename)}`, { method: "DELETE" });
              toast(`${x.basename} goes through the shell again.`, "ok");
              excludes = await call<Exclude[]>("api/shell/excludes");
              paint();
            } catch (e) {
              toast((e as Error).message, "error");
            }
          }, { variant: "danger", label: `Remove ${x.basename}` })),
        },
      ], excludes, "No excludes: the shell takes every navigation."));
    }

    async function add(ev: Event) {
      ev.preventDefault();
      const name = input.value.trim();
      problem.hidden = true;
      if (!NAME.test(name)) {
        problem.textContent = "An app name is letters, digits, - and _ only (the first segment of a path: docs for /docs/...).";
        problem.hidden = false;
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return;
      }
      input.removeAttribute("aria-invalid");
      try {
        const r = await call<{ added: boolean }>("api/shell/excludes", { method: "POST", json: { basename: name } });
        toast(r.added ? `${name} now bypasses the shell.` : `${name} was already excluded.`, "ok");
        input.value = "";
        excludes = await call<Exclude[]>("api/shell/excludes");
        paint();
      } catch (e) {
        problem.textContent = (e as Error).message;
        problem.hidden = false;
      }
    }

    paint();
    return h("div", {}, h("h1", {}, "App shell"),
      h("p", {}, "Browser navigations go to the shell app, except for the apps listed here (and those in a client's gateway_shell_excludes cookie)."),
      h("form", { class: "ui-toolbar", onsubmit: add, novalidate: true }, field("App to exclude", input), button("Add", () => {}, { type: "submit", variant: "primary" })),
      problem, list);
  },
};
