/**
 * The file browser: breadcrumbs, a folder's entries with multi-select, new folder, upload
 * (files, a folder, or a .zip that is unpacked) with progress, rename, download and delete.
 * The URL is the folder (`/deployments/apps/todo`), so every folder is a deep link.
 */
import { basePath, button, dialog, field, h, table, toast, type PageContext, type PluginPage } from "@buntime/ui";
import { call, download, upload, type Item } from "./api.ts";

function size(n: number | undefined): string {
  if (n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** The browser URL of a folder path (each segment encoded). */
function href(path: string): string {
  return basePath() + path.split("/").filter(Boolean).map(encodeURIComponent).join("/");
}

/** Asks for a name; resolves with it, or null when cancelled. `act` runs it (errors keep the dialog open). */
async function askName(title: string, label: string, initial: string, act: (name: string) => Promise<void>): Promise<boolean> {
  const input = h("input", { name: "name", value: initial, autocomplete: "off", spellcheck: "false", required: true });
  const choice = await dialog(title, field(label, input), [{ text: "Cancel", value: "cancel" }, { text: "OK", value: "ok", variant: "primary" }], {
    async onSubmit() {
      if (!input.value.trim()) return `${label} is required.`;
      await act(input.value.trim());
    },
  });
  return choice === "ok";
}

export const browser: PluginPage = {
  path: "*",
  title: "Files",
  async render(cx: PageContext) {
    const path = cx.path;
    const listing = await call<{ data: { entries: Item[]; path: string } }>(`api/list?path=${encodeURIComponent(path)}`);
    const items = listing.data.entries;
    const atRoot = path === "";
    const selected = new Set<string>();
    const reload = () => cx.navigate(href(path).slice(basePath().length));

    const crumbs = h("nav", { "aria-label": "Breadcrumbs", class: "ui-crumbs" },
      h("a", { href: basePath(), "aria-current": atRoot ? "page" : false }, "Roots"),
      ...path.split("/").filter(Boolean).flatMap((seg, i, all) => [
        h("span", { "aria-hidden": "true" }, " / "),
        h("a", { href: href(all.slice(0, i + 1).join("/")), "aria-current": i === all.length - 1 ? "page" : false }, seg),
      ]));

    const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Upload progress" });
    const filesInput = h("input", { type: "file", multiple: true, hidden: true, "aria-label": "Files to upload" });
    const folderInput = h("input", { type: "file", multiple: true, hidden: true, webkitdirectory: true, "aria-label": "Folder to upload" });
    async function send(files: File[]) {
      if (!files.length) return;
      progress.hidden = false;
      progress.value = 0;
      try {
        await upload(path, files, (f) => { progress.value = f; });
        toast(`Uploaded ${files.length} file${files.length === 1 ? "" : "s"}.`, "ok");
        reload();
      } catch (e) {
        toast((e as Error).message, "error");
      } finally {
        progress.hidden = true;
      }
    }
    filesInput.addEventListener("change", () => void send(Array.from(filesInput.files ?? [])));
    folderInput.addEventListener("change", () => void send(Array.from(folderInput.files ?? [])));

    const deleteSelected = button("Delete selected", async () => {
      const paths = [...selected];
      if ((await dialog(`Delete ${paths.length} item${paths.length === 1 ? "" : "s"}?`, h("p", {}, paths.join(", ")), [{ text: "Cancel", value: "cancel" }, { text: "Delete", value: "delete", variant: "danger" }])) !== "delete") return;
      const r = await call<{ errors?: Array<{ path: string; message: string }> }>("api/delete-batch", { method: "POST", json: { paths } }).catch((e) => ({ errors: [{ path: "", message: (e as Error).message }] }));
      if (r.errors?.length) toast(r.errors.map((e) => `${e.path}: ${e.message}`).join("; "), "error");
      else toast("Deleted.", "ok");
      reload();
    }, { variant: "danger" });
    const downloadSelected = button("Download selected", () => void download(`download-batch?paths=${[...selected].map(encodeURIComponent).join(",")}`, "download.zip").catch((e) => toast((e as Error).message, "error")));
    const paintSelection = () => {
      deleteSelected.disabled = downloadSelected.disabled = selected.size === 0;
    };
    paintSelection();

    const toolbar = atRoot ? h("p", { class: "ui-muted" }, "Pick a root: apps are served from the worker directories, plugins from the plugin directories.") : h("div", { class: "ui-toolbar" },
      button("New folder", () => void askName("New folder", "Folder name", "", async (name) => {
        await call("api/mkdir", { method: "POST", json: { path: `${path}/${name}` } });
        toast(`Created ${name}.`, "ok");
        reload();
      }), { icon: "folder" }),
      button("Upload files", () => filesInput.click(), { icon: "upload", variant: "primary" }),
      button("Upload folder", () => folderInput.click(), { icon: "upload" }),
      deleteSelected, downloadSelected, filesInput, folderInput);

    const rows = table([
      ...(atRoot ? [] : [{ title: "", cell: (it: Item) => h("input", { type: "checkbox", "aria-label": `Select ${it.name}`, onchange: (ev: Event) => {
        if ((ev.target as HTMLInputElement).checked) selected.add(it.path); else selected.delete(it.path);
        paintSelection();
      } }) }]),
      { title: "Name", cell: (it: Item) => it.isDirectory ? h("a", { href: href(it.path), "data-testid": "entry" }, `${it.name}/`) : h("span", { "data-testid": "entry" }, it.name) },
      { title: "Size", cell: (it: Item) => (it.isDirectory ? "—" : size(it.size)) },
      { title: "Modified", cell: (it: Item) => (it.updatedAt ? new Date(it.updatedAt).toLocaleString() : "—") },
      ...(atRoot ? [] : [{ title: "Actions", cell: (it: Item) => h("div", { class: "ui-row" },
        button("Rename", () => void askName(`Rename ${it.name}`, "New name", it.name, async (name) => {
          await call("api/rename", { method: "POST", json: { path: it.path, newName: name } });
          toast(`Renamed to ${name}.`, "ok");
          reload();
        }), { label: `Rename ${it.name}` }),
        button("Download", () => void download(`download?path=${encodeURIComponent(it.path)}`, it.isDirectory ? `${it.name}.zip` : it.name).catch((e) => toast((e as Error).message, "error")), { label: `Download ${it.name}` }),
        button("Delete", async () => {
          if ((await dialog(`Delete ${it.name}?`, h("p", {}, it.isDirectory ? "The folder and everything in it is deleted." : "The file is deleted."), [{ text: "Cancel", value: "cancel" }, { text: "Delete", value: "delete", variant: "danger" }])) !== "delete") return;
          try {
            await call("api/delete", { method: "DELETE", json: { path: it.path } });
            toast(`Deleted ${it.name}.`, "ok");
          } catch (e) {
            toast((e as Error).message, "error");
          }
          reload();
        }, { variant: "danger", label: `Delete ${it.name}` })) }]),
    ], items, atRoot ? "No roots are configured." : "This folder is empty: upload files or create a folder.");

    // Dropping files on the page uploads them here.
    const view = h("div", {}, h("h1", {}, "Deployments"), crumbs, toolbar, progress, rows);
    if (!atRoot) {
      view.addEventListener("dragover", (ev) => ev.preventDefault());
      view.addEventListener("drop", (ev) => {
        ev.preventDefault();
        void send(Array.from(ev.dataTransfer?.files ?? []));
      });
    }
    return view;
  },
};
