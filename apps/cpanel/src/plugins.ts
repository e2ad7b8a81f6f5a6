/** The loaded plugins as `GET /api/plugins/loaded` lists them, and their menus as sidebar items. */
import { label, type NavItem } from "@buntime/ui";
import { api } from "./api.ts";

export interface Menu {
  title: string;
  path: string;
  icon?: string;
  items?: Menu[];
}

export interface LoadedPlugin {
  name: string;
  version: string;
  kind: string;
  base?: string;
  dependencies: string[];
  optionalDependencies: string[];
  menus: Menu[];
}

export async function loadedPlugins(): Promise<LoadedPlugin[]> {
  return (await api<LoadedPlugin[]>("/plugins/loaded")).data;
}

/** Turns menus (paths on the runtime, `/keyval/queue`) into sidebar items under the shell's base. */
export function menuItems(plugins: LoadedPlugin[], shellBase: string): NavItem[] {
  const convert = (m: Menu): NavItem | null => {
    if (!m || typeof m.title !== "string" || typeof m.path !== "string") return null;
    const path = m.path.startsWith("/") ? m.path : `/${m.path}`;
    const items = Array.isArray(m.items) ? m.items.map(convert).filter((x): x is NavItem => x !== null) : undefined;
    return { text: label(m.title), href: shellBase + path.slice(1), icon: m.icon, items };
  };
  return plugins.flatMap((p) => (Array.isArray(p.menus) ? p.menus : []).map(convert).filter((x): x is NavItem => x !== null));
}
