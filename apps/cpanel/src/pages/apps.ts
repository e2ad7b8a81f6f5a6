/** Apps: installed versions, upload an archive with progress, delete a version. */
import { button, dialog, field, h, replace, table, toast } from "@buntime/ui";
import { api, apiUrl, ApiError, authHeaders, errorFrom } from "../api.ts";
import type { Page } from "./common.ts";

/** The app serving this shell (`cpanel`): deleting it from here would pull the floor away. */
const SHELL_APP = new URL(document.baseURI).pathname.split("/").filter(Boolean)[0] ?? "";

interface App {
  name: string;
  path: string;
  versions: string[];
}

interface Installed {
  name: string;
  version: string;
  installedAt: string;
}

/** `@acme/todo` → `["@acme", "todo"]`; `todo` → `["_", "todo"]` (the delete route's scope). */
function scopeAndName(name: string): [string, string] {
  const m = /^(@[^/]+)\/(.+)$/.exec(name);
  return m ? [m[1]!, m[2]!] : ["_", name];
}

/** Posts the archive with XHR: fetch cannot report upload progress. */
function upload(file: File, progress: (loaded: number, total: number) => void): Promise<Installed> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", apiUrl("/apps/upload"));
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (ev) => ev.lengthComputable && progress(ev.loaded, ev.total);
    xhr.onerror = () => reject(new ApiError(0, "NETWORK", "The upload was interrupted (network error)."));
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve((JSON.parse(xhr.responseText) as { data: { app: Installed } }).data.app);
      } else {
        reject(errorFrom(xhr.status, xhr.statusText, xhr.responseText));
      }
    };
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

export const apps: Page = {
  title: "Apps",
  async render() {
    const { data } = await api<App[]>("/apps");
    const listing = h("div", {});
    const status = h("div", { "aria-live": "polite" });
    const bar = h("progress", { max: 100, value: 0, hidden: true, "aria-label": "Upload progress" });

    const refresh = async () => replace(listing, appTable((await api<App[]>("/apps")).data));
    const appTable = (rows: App[]) => table<App>([
      { title: "App", cell: (a) => h("a", { href: `/${a.name}`, target: "_blank", rel: "noopener" }, a.name) },
      {
        title: "Versions",
        cell: (a) => h("ul", { class: "cp-versions" }, ...a.versions.map((v) => h("li", {},
          h("a", { href: `/${a.name}@${v}`, target: "_blank", rel: "noopener" }, v), " ",
          a.name === SHELL_APP
            ? h("span", { class: "ui-muted" }, "(this admin shell)")
            : button("Delete", () => remove(a, v), { variant: "danger", icon: "trash", title: `Delete ${a.name}@${v}` })))),
      },
      { title: "Directory", cell: (a) => h("code", {}, a.path) },
    ], rows, "No app is installed.");

    const remove = async (app: App, version: string) => {
      const ok = await dialog(`Delete ${app.name}@${version}?`, h("p", {}, "Its files are removed from the worker directory; its workers finish their requests first."), [
        { text: "Cancel", value: "" },
        { text: "Delete", value: "delete", variant: "danger" },
      ]);
      if (ok !== "delete") return;
      const [scope, name] = scopeAndName(app.name);
      try {
        await api(`/apps/${encodeURIComponent(scope)}/${encodeURIComponent(name)}/${encodeURIComponent(version)}`, { method: "DELETE" });
        await refresh();
        toast(`Deleted ${app.name}@${version}.`, "ok");
      } catch (e) {
        toast(e instanceof Error ? e.message : String(e), "error");
      }
    };

    const file = h("input", { type: "file", name: "file", accept: ".zip,.tgz,.tar.gz,application/gzip,application/zip", required: true });
    const form = h("form", { class: "ui-card", "aria-label": "Upload an app" },
      h("h2", {}, "Upload an app"),
      field("Archive (.tar.gz, .tgz or .zip)", file, "Its manifest.yaml or package.json names the app and its version."),
      bar, status,
      h("div", { class: "ui-actions" }, button("Upload", () => {}, { variant: "primary", type: "submit", icon: "upload" })));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const chosen = file.files?.[0];
      if (!chosen) return;
      bar.hidden = false;
      bar.value = 0;
      replace(status, `Uploading ${chosen.name}…`);
      try {
        const app = await upload(chosen, (loaded, total) => (bar.value = Math.round((loaded / total) * 100)));
        bar.value = 100;
        replace(status, h("div", { class: "ui-alert ui-alert-ok", "data-testid": "upload-result" }, `Installed ${app.name}@${app.version}: `,
          h("a", { href: `/${app.name}@${app.version}`, target: "_blank", rel: "noopener" }, `/${app.name}@${app.version}`)));
        form.reset();
        await refresh();
      } catch (e) {
        bar.hidden = true;
        replace(status, h("div", { class: "ui-alert", role: "alert", "data-testid": "upload-result" }, `Upload failed: ${e instanceof Error ? e.message : String(e)}`));
      }
    });
    replace(listing, appTable(data));
    return h("div", {}, h("h1", {}, "Apps"), form, listing);
  },
};
