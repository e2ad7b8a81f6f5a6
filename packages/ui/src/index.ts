/** `@buntime/ui`: the admin UIs' design system (import `@buntime/ui/ui.css` for the styles). */
export { h, append, replace, label } from "./dom.ts";
export { icon, hasIcon } from "./icons.ts";
export { button, field, select, table, dialog, toast, tabs, applyTheme, themeToggle, grid, cellText, json } from "./components.ts";
export type { Column, Variant } from "./components.ts";
export { sidebar } from "./sidebar.ts";
export type { NavItem } from "./sidebar.ts";
export { pluginApp, basePath } from "./plugin.ts";
export type { PluginPage, PageContext } from "./plugin.ts";
export { request, url, query, errorOf, HttpError, shellKeyHeaders } from "./http.ts";
