/** The KeyVal plugin's UI, served at its base (`/keyval`): explorer, live feed, queue, search, atomic, metrics. */
import "@buntime/ui/ui.css";
import { pluginApp } from "@buntime/ui";
import { overview } from "./pages/overview.ts";
import { entries } from "./pages/entries.ts";
import { queue } from "./pages/queue.ts";
import { search } from "./pages/search.ts";
import { watch } from "./pages/watch.ts";
import { atomic } from "./pages/atomic.ts";
import { metrics } from "./pages/metrics.ts";

// The paths of the plugin's menus (manifest.yaml), so every sidebar item has its page.
pluginApp({ name: "KeyVal", pages: [overview, entries, queue, search, watch, atomic, metrics] });
