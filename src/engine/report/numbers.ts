/**
 * Compact numbers for tables: three significant digits; outside [0.01, 1e4) two, in short
 * scientific notation ("3.1e-9", "4e9"); "NaN" and "∞" spelled out.
 */
export function formatNumber(value: number | undefined, digits = 3): string {
  if (value === undefined) return '–';
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '-∞';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude < 1e-2 || magnitude >= 1e4) {
    const [mantissa, exponent] = value.toExponential(Math.max(digits - 2, 0)).split('e');
    return `${trimZeros(mantissa)}e${Number(exponent)}`;
  }
  // toFixed rather than toPrecision: toPrecision switches to exponents from 10^digits up.
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(magnitude)));
  return trimZeros(value.toFixed(decimals));
}

export function formatPercent(fraction: number | undefined): string {
  if (fraction === undefined) return '–';
  if (!Number.isFinite(fraction)) return formatNumber(fraction);
  return `${Math.round(fraction * 100)}%`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return formatNumber(ms);
  return ms < 1000 ? `${Math.round(ms)} ms` : `${formatNumber(ms / 1000)} s`;
}

function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}
