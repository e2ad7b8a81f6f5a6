/**
 * The deployments API as this UI calls it: with the admin shell's API key of this tab (same-origin
 * frames share the tab's sessionStorage), since the API follows the REST API's access model.
 */
import { errorOf, url, shellKeyHeaders } from "@buntime/ui";

export interface Item { name: string; path: string; isDirectory: boolean; size?: number; updatedAt?: string }

/** A JSON call; a 401/403 says to sign in to the shell with a key that may do it. */
export async function call<T>(path: string, init: { method?: string; json?: unknown } = {}): Promise<T> {
  const res = await fetch(url(path), {
    method: init.method ?? "GET",
    headers: { accept: "application/json", ...shellKeyHeaders(), ...(init.json !== undefined ? { "content-type": "application/json" } : {}) },
    body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
  });
  if (!res.ok) {
    const e = await errorOf(res);
    if (res.status === 401 || res.status === 403) e.message += " — sign in to the admin shell with an API key that may manage apps (editor or admin).";
    throw e;
  }
  return (await res.json()) as T;
}

/** Uploads `files` into the folder `path` with progress (XHR: fetch cannot report upload progress). */
export function upload(path: string, files: File[], onProgress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("path", path);
    for (const f of files) {
      form.append("files", f);
      // A folder pick keeps each file's place below the chosen folder.
      form.append("paths", (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name);
    }
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url("api/upload"));
    for (const [k, v] of Object.entries(shellKeyHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (ev) => ev.lengthComputable && onProgress(ev.loaded / ev.total);
    xhr.onerror = () => reject(new Error("The upload could not reach the runtime."));
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      reject(await errorOf(new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText })));
    };
    xhr.send(form);
  });
}

/** Downloads a file or folder (a zip) through fetch, so the key goes with it, then saves it. */
export async function download(query: string, fallbackName: string): Promise<void> {
  const res = await fetch(url(`api/${query}`), { headers: shellKeyHeaders() });
  if (!res.ok) throw await errorOf(res);
  const disposition = res.headers.get("content-disposition") ?? "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName;
  const href = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}
