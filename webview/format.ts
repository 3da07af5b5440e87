/** Compact numbers for labels: 4.2e-7, 0.0312, 12.5, 3.1e+4; NaN and infinities spelt out. */
export function formatNumber(value: number | undefined): string {
  if (value === undefined) return '–';
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e4 || magnitude < 1e-2) return value.toExponential(1);
  return String(+value.toPrecision(3));
}

export function formatPercent(fraction: number): string {
  return `${Math.round(fraction * 100)} %`;
}

export function fileName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}
