/** "Access denied" with a sign-in form: the key is kept for this tab and the page is shown again. */
import { button, field, h } from "@buntime/ui";
import { session } from "./api.ts";

/** Renders the denial (`message` is the runtime's own) and calls `retry` after a sign-in. */
export function accessDenied(message: string, retry: () => void): HTMLElement {
  const input = h("input", { type: "password", name: "key", autocomplete: "off", required: true, placeholder: "btk_…" });
  const form = h("form", { class: "ui-card cp-signin", "aria-label": "Sign in" },
    h("h1", {}, "Access denied"),
    h("p", { class: "ui-muted", "data-testid": "denied-message" }, message),
    session.key ? h("p", {}, "The key this tab uses was not accepted here. Sign in with another one.") : h("p", {}, "Sign in with an API key (kept for this tab only)."),
    field("API key", input),
    h("div", { class: "ui-actions" }, button("Sign in", () => {}, { variant: "primary", type: "submit", icon: "log-in" })));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!input.value.trim()) return;
    session.signIn(input.value);
    retry();
  });
  queueMicrotask(() => input.focus());
  return form;
}
