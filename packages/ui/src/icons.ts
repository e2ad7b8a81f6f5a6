/** The icons the admin UIs may name as `lucide:<name>`: a fixed set bundled from lucide-static (ISC), never fetched. */
import {
  Activity, ArrowLeftRight, Atom, ChartColumn, Cpu, Eye, House, Inbox, List, Play, ChartLine, CircleDashed, Database, FileText, Folder, Gauge, Globe, Hand,
  HeartPulse, Key, KeyRound, LayoutDashboard, Lock, LogIn, LogOut, Mail, Menu, Moon, Network, Package, Puzzle,
  RefreshCw, Rocket, ScrollText, Search, Server, Settings, Shield, ShieldCheck, Sun, SunMoon, Table, Terminal,
  Trash, Upload, Users, X,
} from "lucide-static";

const ICONS: Record<string, string> = {
  activity: Activity, "arrow-left-right": ArrowLeftRight, "chart-column": ChartColumn, "chart-line": ChartLine,
  database: Database, "file-text": FileText, folder: Folder, gauge: Gauge, globe: Globe, hand: Hand,
  "heart-pulse": HeartPulse, key: Key, "key-round": KeyRound, "layout-dashboard": LayoutDashboard, lock: Lock,
  "log-in": LogIn, "log-out": LogOut, mail: Mail, menu: Menu, moon: Moon, network: Network, package: Package,
  puzzle: Puzzle, "refresh-cw": RefreshCw, rocket: Rocket, "scroll-text": ScrollText, search: Search, server: Server,
  settings: Settings, shield: Shield, "shield-check": ShieldCheck, sun: Sun, "sun-moon": SunMoon, table: Table,
  terminal: Terminal, trash: Trash, upload: Upload, users: Users, x: X,
  // The bundled plugins' menus (lucide's current names and the older ones the manifests use).
  atom: Atom, cpu: Cpu, eye: Eye, house: House, home: House, inbox: Inbox, list: List, play: Play,
  "bar-chart-3": ChartColumn,
};

/** The glyph shown for an icon name this bundle does not have. */
const NEUTRAL = CircleDashed;

/** Returns whether `name` (`lucide:hand` or `hand`) is bundled. */
export function hasIcon(name: string): boolean {
  return Object.hasOwn(ICONS, name.replace(/^lucide:/, ""));
}

/** Returns an `<span class="ui-icon">` holding the named icon's SVG, or the neutral glyph. */
export function icon(name: string | undefined): HTMLElement {
  const key = (name ?? "").replace(/^lucide:/, "");
  const span = document.createElement("span");
  span.className = "ui-icon";
  span.setAttribute("aria-hidden", "true");
  span.dataset.icon = Object.hasOwn(ICONS, key) ? key : "unknown";
  // Trusted markup: every string comes from the bundled lucide-static module, never from a manifest.
  span.innerHTML = (Object.hasOwn(ICONS, key) ? ICONS[key]! : NEUTRAL).replace(/>\s+</g, "><").trim();
  return span;
}
