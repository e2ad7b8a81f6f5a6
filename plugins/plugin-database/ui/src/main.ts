/** The database plugin's UI, served at its base (`/database`): adapters and health, and the studio. */
import "@buntime/ui/ui.css";
import "./studio.css";
import { pluginApp } from "@buntime/ui";
import { overview } from "./pages/overview.ts";
import { studio } from "./pages/studio.ts";

pluginApp({ name: "Database", pages: [overview, studio] });
