/**
 * Figures, their targets and the table the benchmark prints. A figure without a target is shown
 * for information (a ratio, a size) and can never fail the run.
 */

export interface Figure {
  /** The key of its target in bench/run.ts, if it has one. */
  key: string;
  section: string;
  label: string;
  value: number;
  unit: string;
}

export interface Target {
  /** `max`: the figure must stay below `limit`; `min`: it must stay above. */
  kind: 'max' | 'min';
  limit: number;
  /** What a miss would break for the people using crewvz. */
  protects: string;
}

export interface Judged {
  figure: Figure;
  target: Target | null;
  pass: boolean;
}

export function judge(figures: readonly Figure[], targets: Record<string, Target>): Judged[] {
  return figures.map((figure) => {
    const target = targets[figure.key] ?? null;
    if (target === null) {
      return { figure, target, pass: true };
    }
    const pass = target.kind === 'max' ? figure.value < target.limit : figure.value > target.limit;
    return { figure, target, pass };
  });
}

/** Three significant digits at most, without drowning small latencies in zeros. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) {
    return String(value);
  }
  if (Math.abs(value) >= 1000) {
    return Math.round(value).toLocaleString('en-US');
  }
  // Rounded first, so that 99.97 prints as 100 and not as 100.0.
  const rounded = Number(value.toPrecision(3));
  const size = Math.abs(rounded);
  const decimals = size >= 100 ? 0 : size >= 10 ? 1 : 2;
  return rounded.toFixed(decimals);
}

function targetText(target: Target | null, unit: string): string {
  if (target === null) {
    return '';
  }
  return `${target.kind === 'max' ? '<' : '>'} ${formatValue(target.limit)} ${unit}`;
}

/** A plain-text table, one row per figure, sections in the order they were measured. */
export function renderTable(rows: readonly Judged[]): string {
  const cells = rows.map(({ figure, target, pass }) => [
    figure.section,
    figure.label,
    `${formatValue(figure.value)} ${figure.unit}`,
    targetText(target, figure.unit),
    target === null ? 'info' : pass ? 'PASS' : 'MISS',
  ]);
  const header = ['section', 'figure', 'measured', 'target', 'result'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((row) => (row[column] ?? '').length)),
  );
  const line = (row: readonly string[]): string =>
    row
      .map((cell, column) => (column === 2 || column === 3 ? cell.padStart(widths[column] ?? 0)
        : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();

  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(header), rule, ...cells.map(line)].join('\n');
}
