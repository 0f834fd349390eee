// Part of `npm run build`: tsc compiles only TypeScript, so the status page's files (plain HTML,
// JS and CSS, served as they are) are copied next to the compiled module that serves them.
import { cpSync } from 'node:fs';

cpSync('src/http/page', 'dist/http/page', { recursive: true });
