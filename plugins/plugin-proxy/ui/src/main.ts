/** The proxy plugin's UI (Redirects), served at its base (`/redirects`): the rules table and form. */
import "@buntime/ui/ui.css";
import "./proxy.css";
import { pluginApp } from "@buntime/ui";
import { rules } from "./rules.ts";

pluginApp({ name: "Redirects", pages: [rules] });
