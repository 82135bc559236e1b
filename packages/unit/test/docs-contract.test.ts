import { readFileSync } from 'node:fs';
import {
  describeAcceptedValues,
  ERRORS,
  formatSettingsTable,
  MLFLOW_ERROR_CODE_BY_CODE,
  MLFLOW_ERROR_CODE_BY_STATUS,
  SETTINGS,
} from '@registry/service';
import { describe, expect, it } from 'vitest';

const docs = new URL('../../../docs/', import.meta.url);
const readme = new URL('../../../README.md', import.meta.url);

/** Rows of the markdown table whose first cell is a back-quoted name: [name, second cell]. */
function tableRows(markdown: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of markdown.split('\n')) {
    const match = /^\|\s*`([A-Z0-9_]+)`\s*\|\s*([^|]*?)\s*\|/.exec(line);
    if (match?.[1]) rows.set(match[1], match[2] ?? '');
  }
  return rows;
}

describe('Error catalogue', () => {
  const documented = tableRows(readFileSync(new URL('errors.md', docs), 'utf8'));

  it('documents every code with its HTTP status in docs/errors.md', () => {
    for (const [code, entry] of Object.entries(ERRORS)) expect(documented.get(code), code).toBe(String(entry.status));
  });

  it('documents no code the service does not have', () => {
    expect([...documented.keys()].filter((code) => !(code in ERRORS))).toEqual([]);
  });

  it("documents the MLflow error_code the pass-through's errors carry for each status", () => {
    const text = readFileSync(new URL('errors.md', docs), 'utf8').replaceAll(/\s+/g, ' ');
    for (const [status, code] of Object.entries(MLFLOW_ERROR_CODE_BY_STATUS)) {
      expect(text, `${status} ${code}`).toContain(`${status} \`${code}\``);
    }
  });

  it("documents the MLflow error_code that replaces the status's for a catalogue code", () => {
    const text = readFileSync(new URL('errors.md', docs), 'utf8').replaceAll(/\s+/g, ' ');
    for (const [code, mlflowCode] of Object.entries(MLFLOW_ERROR_CODE_BY_CODE)) {
      expect(text, `${code} ${mlflowCode}`).toContain(`\`${code}\` carries MLflow's own \`${mlflowCode}\``);
    }
  });
});

describe('README settings table', () => {
  const text = readFileSync(readme, 'utf8');
  const section = text.slice(text.indexOf('<!-- settings:start -->'), text.indexOf('<!-- settings:end -->'));
  const documented = tableRows(section);

  it('has a settings section', () => {
    expect(section.length).toBeGreaterThan(100);
  });

  it('lists every setting with its default', () => {
    for (const [name, spec] of Object.entries(SETTINGS)) {
      const expected = spec.default === undefined ? 'unset' : `\`${spec.default}\``;
      expect(documented.get(name), name).toBe(expected);
    }
  });

  it('lists no variable the service does not read', () => {
    expect([...documented.keys()].filter((name) => !(name in SETTINGS))).toEqual([]);
  });

  it('is the table SETTINGS gives, what each setting accepts included (npm run build rewrites it)', () => {
    expect(section.replace('<!-- settings:start -->\n', '').trimEnd()).toBe(formatSettingsTable());
  });

  it("says what a setting accepts in its schema's words", () => {
    expect(describeAcceptedValues('MLFLOW_MAX_CONCURRENCY')).toBe('a whole number from 1 to 10000');
    expect(describeAcceptedValues('ADMIN_TOKEN')).toBe('a token of at least 16 characters');
    expect(describeAcceptedValues('HOST')).toBe('any text');
  });
});
