/** The metrics plugin's UI, served at its base (`/metrics`): live charts and the workers table. */
import "@buntime/ui/ui.css";
import { pluginApp } from "@buntime/ui";
import { overview } from "./pages/overview.ts";
import { workers } from "./pages/workers.ts";

pluginApp({ name: "Metrics", pages: [overview, workers] });
