/** Which navigation item a URL path belongs to (pure, so it is tested without a DOM). */

/** Returns whether `path` is `href` or below it (`/a/b` is inside `/a`, `/ab` is not). */
export function inside(path: string, href: string): boolean {
  const base = href.replace(/\/+$/, "");
  return path === base || path === `${base}/` || path.startsWith(`${base}/`);
}

/** Returns the href of the item that best matches `path` (the longest one containing it), or `null`. */
export function bestMatch(items: Array<{ href: string; items?: Array<{ href: string; items?: unknown[] }> }>, path: string): string | null {
  let found: string | null = null;
  const walk = (list: Array<{ href: string; items?: unknown[] }>) => {
    for (const item of list) {
      if (inside(path, item.href) && (found === null || item.href.length > found.length)) found = item.href;
      if (Array.isArray(item.items)) walk(item.items as Array<{ href: string; items?: unknown[] }>);
    }
  };
  walk(items);
  return found;
}
