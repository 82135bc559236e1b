import { SETTINGS, type SettingName } from './config.js';

/** A value no setting's schema takes unless it takes any text. */
const PROBE = '\u0000?';

/**
 * What a setting accepts, in its own schema's words: the message it gives for a bad value without the
 * leading "expected" (e.g. "a whole number from 1 to 10000"), or "any text" when it takes every string.
 */
export function describeAcceptedValues(name: SettingName): string {
  const probe = SETTINGS[name].schema.safeParse(PROBE);
  if (probe.success) return 'any text';
  return (probe.error.issues[0]?.message ?? '').replace(/^expected /, '');
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/**
 * The README's settings table, generated from `SETTINGS`: variable, default, what it accepts, meaning;
 * columns padded as a Markdown formatter would. `bin/settings-table.mjs` writes it between the
 * `settings:start` and `settings:end` markers; a unit test fails when the README holds another table.
 */
export function formatSettingsTable(): string {
  const rows = (Object.keys(SETTINGS) as SettingName[]).map((name) => {
    const spec = SETTINGS[name];
    return [
      `\`${name}\``,
      spec.default === undefined ? 'unset' : `\`${spec.default}\``,
      cell(describeAcceptedValues(name)),
      cell(spec.description),
    ];
  });
  const header = ['variable', 'default', 'accepts', 'meaning'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((text, column) => text.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}
