/** The gateway plugin's UI, served at its base (`/gateway`): overview, rate limit, logs, shell, CORS. */
import "@buntime/ui/ui.css";
import "./gateway.css";
import { pluginApp } from "@buntime/ui";
import { overview } from "./overview.ts";
import { rateLimit } from "./ratelimit.ts";
import { logs } from "./logs.ts";
import { shell } from "./shell.ts";
import { cors } from "./cors.ts";

// The paths of the plugin's menus (manifest.yaml), so every sidebar item has its page.
pluginApp({ name: "Gateway", pages: [overview, rateLimit, logs, shell, cors] });
