/** The deployments plugin's UI, served at its base (`/deployments`): the file browser of its roots. */
import "@buntime/ui/ui.css";
import { pluginApp } from "@buntime/ui";
import { browser } from "./browser.ts";

pluginApp({ name: "Deployments", pages: [browser] });
