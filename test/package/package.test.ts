import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { license: string; sideEffects: string[] | boolean; files: string[] };

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** Top-level statements that do something when the module is evaluated (beyond imports, exports and declarations). */
function topLevelEffects(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  return source.statements
    .filter(
      (s) =>
        !ts.isImportDeclaration(s) &&
        !ts.isExportDeclaration(s) &&
        !ts.isExportAssignment(s) &&
        !ts.isVariableStatement(s) &&
        !ts.isFunctionDeclaration(s) &&
        !ts.isClassDeclaration(s) &&
        !ts.isInterfaceDeclaration(s) &&
        !ts.isTypeAliasDeclaration(s) &&
        !ts.isEnumDeclaration(s) &&
        !ts.isModuleDeclaration(s),
    )
    .map((s) => s.getText());
}

describe('package.json', () => {
  it('sideEffects lists exactly the modules whose evaluation does more than define things (the Symbol.metadata polyfill)', () => {
    const withEffects = sourceFiles(join(root, 'src'))
      .filter((file) => topLevelEffects(file).length > 0)
      .map((file) => `./dist/${relative(join(root, 'src'), file).replace(/\.ts$/, '.js')}`)
      .sort();
    expect(withEffects).toContain('./dist/decorators/metadata.js');
    expect(pkg.sideEffects).toEqual(withEffects);
  });

  it('ships a LICENSE matching the license field', () => {
    expect(pkg.license).toBe('MIT');
    const license = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) 2026 floodgate contributors\n/);
    expect(license).toContain('THE SOFTWARE IS PROVIDED "AS IS"');
  });

  it('publishes no source map without its source: the build emits none and files excludes any left over', () => {
    const build = ts.readConfigFile(join(root, 'tsconfig.build.json'), ts.sys.readFile).config as { compilerOptions: Record<string, unknown> };
    const parsed = ts.parseJsonConfigFileContent(build, ts.sys, root);
    expect(parsed.options.sourceMap ?? false).toBe(false);
    expect(parsed.options.declarationMap ?? false).toBe(false);
    expect(pkg.files).toContain('!dist/**/*.map');
    expect(pkg.files).not.toContain('src');
  });
});
