/**
 * The authn plugin's UI, served at its base (`/auth`) for the paths its routes leave free: the
 * sessions page (`/auth/sessions`). The login page (`/auth/login`) stays the plugin's own
 * server-rendered HTML, which works without JavaScript.
 */
import "@buntime/ui/ui.css";
import "./sessions.css";
import { pluginApp } from "@buntime/ui";
import { sessions } from "./sessions.ts";

pluginApp({ name: "Sign-in", pages: [sessions] });
