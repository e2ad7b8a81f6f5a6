// provider — shares a cache through provides() (seed step 6)
import type { PluginImpl } from "@buntime/shared/types";

export interface CacheService {
  get(k: string): string | undefined;
  set(k: string, v: string): void;
}

export default (): PluginImpl => {
  const cache = new Map<string, string>([["greeting", "Hello from the cache provider"]]);
  const service: CacheService = {
    get: (k: string) => cache.get(k),
    set: (k: string, v: string) => void cache.set(k, v),
  };
  return { provides: () => service };
};
