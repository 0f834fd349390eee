import { readFileSync } from 'node:fs';
import { compress, type Encoding } from './compress.js';

/**
 * The status page's files, served from the package itself (no CDN, no build step): the build
 * copies `src/http/page/` next to the compiled module, so the same relative URL works from the
 * source (tests) and from `dist`.
 */
export interface PageAsset {
  readonly type: string;
  readonly body: Buffer;
  /** The body in `encoding` (compressed once, then kept). */
  encoded(encoding: Encoding | null): { readonly body: Buffer | string; readonly encoding: Encoding | null };
}

function asset(type: string, body: Buffer): PageAsset {
  const variants = new Map<Encoding | null, ReturnType<PageAsset['encoded']>>();
  return {
    type,
    body,
    encoded(encoding) {
      let variant = variants.get(encoding);
      if (variant === undefined) variants.set(encoding, (variant = compress(body, encoding)));
      return variant;
    },
  };
}

const FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/status-page.js': 'status-page.js',
  '/status-page.css': 'status-page.css',
  '/favicon.svg': 'favicon.svg',
};

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

/** The page as served with `events: false` (its meta tag says so), kept under a path no request has. */
const NO_EVENTS_PAGE = '/#no-events';
const EVENTS_ON = '<meta name="floodgate-events" content="on">';

let loaded: ReadonlyMap<string, PageAsset> | undefined;

/**
 * The asset served at `path` (relative to the prefix), or undefined. Files are read once, on first
 * use. `events: false` serves the page with its event stream marked off, so it never asks for it.
 */
export function pageAsset(path: string, events = true): PageAsset | undefined {
  loaded ??= loadAssets();
  return loaded.get(!events && path === '/' ? NO_EVENTS_PAGE : path);
}

/** Every file of the page by its path, for the benchmark of the page's weight. */
export function pageAssets(): ReadonlyMap<string, PageAsset> {
  loaded ??= loadAssets();
  return new Map([...loaded].filter(([path]) => path !== NO_EVENTS_PAGE));
}

function loadAssets(): ReadonlyMap<string, PageAsset> {
  const assets = new Map<string, PageAsset>();
  for (const [path, file] of Object.entries(FILES)) {
    const body = readFileSync(new URL(`./page/${file}`, import.meta.url));
    assets.set(path, asset(TYPES[file.slice(file.lastIndexOf('.') + 1)]!, body));
  }
  const page = assets.get('/')!;
  assets.set(NO_EVENTS_PAGE, asset(page.type, Buffer.from(page.body.toString('utf8').replace(EVENTS_ON, EVENTS_ON.replace('"on"', '"off"')))));
  return assets;
}
