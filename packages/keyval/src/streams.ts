/**
 * Long-running listeners: a loop that reconnects until stopped, and the delivery of watch changes
 * to a callback, optionally coalesced per key in a bounded buffer while the callback is busy.
 */
import { keyId } from "./codec.ts";
import type { KvEntry, KvListenHandle, KvWatchCallback, KvWatchOverflowStrategy } from "./types.ts";

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Runs `connect` again and again (after `reconnectDelay` when it fails or ends) until the handle
 * is stopped; `stop()` resolves when the current run has returned.
 */
export function loop(connect: (signal: AbortSignal) => Promise<void>, reconnectDelay: number, onError: (e: unknown) => void, extra: () => Promise<void> = async () => {}): KvListenHandle {
  const controller = new AbortController();
  const { signal } = controller;
  const running = (async () => {
    while (!signal.aborted) {
      try {
        await connect(signal);
      } catch (e) {
        if (signal.aborted) break;
        onError(e);
      }
      await sleep(reconnectDelay, signal);
    }
  })();
  const stop = async () => {
    controller.abort();
    await running;
    await extra();
  };
  return {
    stop,
    [Symbol.dispose]: () => {
      void stop();
    },
  };
}

/** Combines several handles into one. */
export function allHandles(handles: KvListenHandle[], extra: () => Promise<void> = async () => {}): KvListenHandle {
  const stop = async () => {
    await Promise.all(handles.map((h) => h.stop()));
    await extra();
  };
  return {
    stop,
    [Symbol.dispose]: () => {
      void stop();
    },
  };
}

/**
 * Hands change batches to the callback one call at a time. Without a buffer size, batches queue
 * up in order. With one, changes arriving while the callback runs are merged per key (the latest
 * entry wins) and at most `bufferSize` keys are kept; `overflow` decides which to drop.
 */
export class Deliverer<T> {
  private readonly pending = new Map<string, KvEntry<T>>();
  private chain: Promise<void> = Promise.resolve();
  private draining: Promise<void> | null = null;

  constructor(
    private readonly callback: KvWatchCallback<T>,
    private readonly onError: (e: unknown) => void,
    private readonly bufferSize: number | null,
    private readonly overflow: KvWatchOverflowStrategy,
  ) {
    if (bufferSize !== null && (!Number.isInteger(bufferSize) || bufferSize < 1)) throw new RangeError("bufferSize must be a positive integer");
  }

  private async call(entries: KvEntry<T>[]): Promise<void> {
    try {
      await this.callback(entries);
    } catch (e) {
      this.onError(e);
    }
  }

  /** Queues a batch of changes. */
  push(entries: KvEntry<T>[]): void {
    if (entries.length === 0) return;
    if (this.bufferSize === null) {
      this.chain = this.chain.then(() => this.call(entries));
      return;
    }
    for (const entry of entries) {
      const id = keyId(entry.key);
      if (this.pending.has(id)) {
        this.pending.delete(id); // re-inserted below: the newest change goes last
      } else if (this.pending.size >= this.bufferSize) {
        if (this.overflow === "drop-newest") continue;
        const oldest = this.pending.keys().next().value;
        if (oldest !== undefined) this.pending.delete(oldest);
      }
      this.pending.set(id, entry);
    }
    this.draining ??= this.drain();
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0) {
      const batch = [...this.pending.values()];
      this.pending.clear();
      await this.call(batch);
    }
    this.draining = null;
  }

  /** Resolves when every queued batch has been handed over. */
  async idle(): Promise<void> {
    await this.chain;
    await this.draining;
  }
}
