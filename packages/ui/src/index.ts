/** `@buntime/ui`: the admin UIs' design system (import `@buntime/ui/ui.css` for the styles). */
export { h, append, replace, label } from "./dom.ts";
export { icon, hasIcon } from "./icons.ts";
export { button, field, select, table, dialog, toast, tabs, applyTheme, themeToggle } from "./components.ts";
export type { Column, Variant } from "./components.ts";
export { sidebar } from "./sidebar.ts";
export type { NavItem } from "./sidebar.ts";
