/** Queue: counts, enqueue a message, and the dead-letter queue with requeue and delete. */
import { button, dialog, field, h, json, replace, request, table, toast, type PluginPage } from "@buntime/ui";
import { stats } from "./shared.ts";

interface Stats { pending: number; processing: number; dlq: number; total: number }
interface Dead { id: string; originalId: string; value: unknown; errorMessage: string | null; attempts: number; failedAt: number }

export const queue: PluginPage = {
  path: "queue",
  title: "Queue",
  async render() {
    const top = h("div", {});
    const dead = h("div", {});
    async function paint() {
      const [s, dlq] = await Promise.all([request<Stats>("api/queue/stats"), request<Dead[]>("api/queue/dlq?limit=100")]);
      replace(top, stats([["Pending", String(s.pending)], ["Processing", String(s.processing)], ["Dead letters", String(s.dlq)], ["Total", String(s.total)]]));
      replace(dead, table([
        { title: "Id", cell: (d: Dead) => h("code", {}, d.id) },
        { title: "Value", cell: (d: Dead) => h("code", { class: "ui-cell" }, JSON.stringify(d.value)) },
        { title: "Error", cell: (d: Dead) => d.errorMessage ?? "—" },
        { title: "Attempts", cell: (d: Dead) => String(d.attempts) },
        { title: "Failed", cell: (d: Dead) => new Date(d.failedAt).toLocaleString() },
        {
          title: "Actions",
          cell: (d: Dead) => h("div", { class: "ui-row" },
            button("Requeue", async () => { await request(`api/queue/dlq/${encodeURIComponent(d.id)}/requeue`, { method: "POST" }); toast("Requeued.", "ok"); await paint(); }),
            button("Delete", async () => { await request(`api/queue/dlq/${encodeURIComponent(d.id)}`, { method: "DELETE" }); toast("Deleted.", "ok"); await paint(); }, { variant: "danger" })),
        },
      ], dlq, "The dead-letter queue is empty."));
    }
    const value = h("textarea", { name: "value", rows: 4, spellcheck: "false" });
    value.value = '{"task": "example"}';
    const delay = h("input", { name: "delay", type: "number", min: 0, value: "0" });
    const form = h("form", { class: "ui-card", onsubmit: async (ev: Event) => {
      ev.preventDefault();
      let parsed: unknown;
      try {
        parsed = JSON.parse(value.value);
      } catch (e) {
        toast(`The message is not valid JSON: ${(e as Error).message}`, "error");
        return;
      }
      const res = await request<{ id: string }>("api/queue/enqueue", { method: "POST", json: { value: parsed, options: { delay: Number(delay.value) || 0 } } });
      toast(`Enqueued ${res.id}.`, "ok");
      await paint();
    } }, h("h2", {}, "Enqueue"), field("Message (JSON)", value), field("Delay (ms)", delay),
      h("div", { class: "ui-actions" }, button("Enqueue", () => {}, { type: "submit", variant: "primary" })));
    await paint();
    return h("div", {}, h("h1", {}, "Queue"), top, form,
      h("div", { class: "ui-toolbar" }, h("h2", {}, "Dead letters"),
        button("Purge all", async () => {
          if ((await dialog("Purge the dead-letter queue?", h("p", {}, "Every dead letter is deleted."), [{ text: "Cancel", value: "cancel" }, { text: "Purge", value: "purge", variant: "danger" }])) !== "purge") return;
          const r = await request<{ deletedCount: number }>("api/queue/dlq", { method: "DELETE" });
          toast(`${r.deletedCount} deleted.`, "ok");
          await paint();
        }, { variant: "danger" })),
      dead, h("details", {}, h("summary", {}, "How consumers read it"), json({ poll: "GET api/queue/poll", listen: "GET api/queue/listen (SSE)", ack: "POST api/queue/ack {id}", nack: "POST api/queue/nack {id}" })));
  },
};
