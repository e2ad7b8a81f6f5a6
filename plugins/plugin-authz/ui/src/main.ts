/** The authz plugin's UI, served at its base (`/authz`): an overview, the policies and the evaluate form. */
import "@buntime/ui/ui.css";
import "./authz.css";
import { pluginApp } from "@buntime/ui";
import { evaluate } from "./evaluate.ts";
import { overview } from "./overview.ts";
import { policies } from "./policies.ts";

pluginApp({ name: "Authorization", pages: [overview, policies, evaluate] });
