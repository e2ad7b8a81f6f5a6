/** The logs plugin's UI, served at its base (`/logs`): the live tail with a level filter and search. */
import "@buntime/ui/ui.css";
import { pluginApp } from "@buntime/ui";
import { tail } from "./tail.ts";

pluginApp({ name: "Logs", pages: [tail] });
