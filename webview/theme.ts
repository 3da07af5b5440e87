/** Colours and fonts of the current VS Code theme, read from its `--vscode-*` CSS variables. */
export interface ThemeColors {
  kind: 'dark' | 'light' | 'high-contrast' | 'high-contrast-light';
  foreground: string;
  mutedForeground: string;
  gridLines: string;
  background: string;
  red: string;
  blue: string;
  yellow: string;
  orange: string;
  green: string;
  purple: string;
  fontFamily: string;
  fontSize: number;
}

// Used only where a variable is missing (e.g. a page outside VS Code); VS Code always sets them.
const FALLBACK = {
  foreground: '#cccccc',
  mutedForeground: '#9d9d9d',
  gridLines: 'rgba(128, 128, 128, 0.25)',
  background: '#1e1e1e',
  red: '#f14c4c',
  blue: '#3794ff',
  yellow: '#cca700',
  orange: '#d18616',
  green: '#89d185',
  purple: '#b180d7',
};

export function readTheme(): ThemeColors {
  const style = getComputedStyle(document.body);
  const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  const classes = document.body.classList;
  const kind = classes.contains('vscode-high-contrast-light')
    ? 'high-contrast-light'
    : classes.contains('vscode-high-contrast')
      ? 'high-contrast'
      : classes.contains('vscode-light')
        ? 'light'
        : 'dark';
  return {
    kind,
    foreground: read('--vscode-foreground', FALLBACK.foreground),
    mutedForeground: read('--vscode-descriptionForeground', FALLBACK.mutedForeground),
    gridLines: withAlpha(read('--vscode-charts-lines', FALLBACK.gridLines), 0.35),
    background: read('--vscode-sideBar-background', read('--vscode-editor-background', FALLBACK.background)),
    red: read('--vscode-charts-red', FALLBACK.red),
    blue: read('--vscode-charts-blue', FALLBACK.blue),
    yellow: read('--vscode-charts-yellow', FALLBACK.yellow),
    orange: read('--vscode-charts-orange', FALLBACK.orange),
    green: read('--vscode-charts-green', FALLBACK.green),
    purple: read('--vscode-charts-purple', FALLBACK.purple),
    fontFamily: read('--vscode-font-family', 'sans-serif'),
    fontSize: parseFloat(read('--vscode-font-size', '13')) || 13,
  };
}

/** Calls `onChange` when VS Code switches theme (it toggles classes on `<body>` and rewrites the variables on `<html>`). */
export function observeThemeChanges(onChange: () => void): void {
  const observer = new MutationObserver(onChange);
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
}

type Rgba = [number, number, number, number];

let colorContext: CanvasRenderingContext2D | null = null;

/** Any CSS colour to RGBA, by letting the canvas normalise it (it answers `#rrggbb` or `rgba(…)`). */
export function parseColor(color: string): Rgba {
  colorContext ??= document.createElement('canvas').getContext('2d');
  if (!colorContext) return [128, 128, 128, 1];
  colorContext.fillStyle = '#000000';
  colorContext.fillStyle = color;
  const normal = String(colorContext.fillStyle);
  if (normal.startsWith('#')) {
    return [parseInt(normal.slice(1, 3), 16), parseInt(normal.slice(3, 5), 16), parseInt(normal.slice(5, 7), 16), 1];
  }
  const parts = normal.replace(/[^\d.,]/g, '').split(',').map(Number);
  return [parts[0], parts[1], parts[2], parts[3] ?? 1];
}

export function withAlpha(color: string, alpha: number): string {
  const [r, g, b, a] = parseColor(color);
  return `rgba(${r}, ${g}, ${b}, ${+(a * alpha).toFixed(3)})`;
}

/**
 * `count` colours running through the theme's chart colours in depth order (input side blue,
 * output side purple), so neighbouring layers look alike and the first and last stand apart.
 */
export function layerPalette(theme: ThemeColors, count: number): string[] {
  const stops = [theme.blue, theme.green, theme.yellow, theme.orange, theme.red, theme.purple].map(parseColor);
  if (count <= stops.length) {
    return stops.slice(0, Math.max(count, 0)).map(([r, g, b]) => `rgb(${r}, ${g}, ${b})`);
  }
  return Array.from({ length: count }, (_, i) => {
    const position = (i / (count - 1)) * (stops.length - 1);
    const lower = Math.min(Math.floor(position), stops.length - 2);
    const t = position - lower;
    const mix = (k: number) => Math.round(stops[lower][k] * (1 - t) + stops[lower + 1][k] * t);
    return `rgb(${mix(0)}, ${mix(1)}, ${mix(2)})`;
  });
}
