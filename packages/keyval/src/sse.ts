/**
 * Server-sent events read from a fetch body (no EventSource): the event stream format of the
 * HTML standard, i.e. `event:`/`data:`/`id:` fields, comments, and any of CRLF, LF or CR.
 */

/** One dispatched event. */
export interface SseEvent {
  /** The `event:` field; `message` when absent. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen. */
  id: string | undefined;
}

/** Incremental parser: feed text chunks, get the events they complete. */
export class SseParser {
  private pending = "";
  private sawCr = false;
  private event = "";
  private data: string[] = [];
  private lastId: string | undefined;

  /** Parses `chunk` and returns the events it completed. */
  push(chunk: string): SseEvent[] {
    let text = chunk;
    // A CR at the end of the previous chunk may be the first half of a CRLF.
    if (this.sawCr && text.startsWith("\n")) text = text.slice(1);
    this.sawCr = text.endsWith("\r");
    this.pending += text;
    const lines = this.pending.split(/\r\n|\r|\n/);
    this.pending = lines.pop() ?? "";
    const out: SseEvent[] = [];
    for (const line of lines) {
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  private line(line: string): SseEvent | undefined {
    if (line === "") {
      const event = this.data.length > 0 ? { event: this.event || "message", data: this.data.join("\n"), id: this.lastId } : undefined;
      this.event = "";
      this.data = [];
      return event;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
    return undefined;
  }
}

/** Yields the events of an SSE response body until it ends. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    // Frees the body when the consumer stops early (watch/listen stopped); errors are moot then.
    await reader.cancel().catch(() => {});
  }
}
