import type { ViewLayer } from '../src/shared/viewProtocol';

export interface LayerLegendEvents {
  onToggle(index: number, visible: boolean): void;
  onHighlight(index: number | null): void;
}

/**
 * The gradient chart's legend as HTML buttons, one per layer (Chart.js' canvas legend cannot
 * wrap 100 entries or take the keyboard). Activating an entry hides or shows its line;
 * hovering or focusing one highlights it in the chart.
 */
export class LayerLegend {
  readonly element: HTMLElement;
  private entries: HTMLButtonElement[] = [];

  constructor(private readonly events: LayerLegendEvents) {
    this.element = document.createElement('div');
    this.element.className = 'layer-legend';
    this.element.setAttribute('role', 'group');
    this.element.setAttribute('aria-label', 'Layers in the gradient chart');
  }

  rebuild(layers: ViewLayer[], colors: string[], hidden: ReadonlySet<string>): void {
    this.entries = layers.map((layer, i) => {
      const entry = document.createElement('button');
      entry.type = 'button';
      entry.className = 'legend-entry';
      entry.title = `${layer.name} (${layer.className}): activate to hide or show`;
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      entry.append(swatch, layer.name);
      entry.setAttribute('aria-pressed', String(!hidden.has(layer.name)));
      entry.addEventListener('click', () => {
        const visible = entry.getAttribute('aria-pressed') !== 'true';
        entry.setAttribute('aria-pressed', String(visible));
        this.events.onToggle(i, visible);
      });
      entry.addEventListener('mouseenter', () => this.events.onHighlight(i));
      entry.addEventListener('focus', () => this.events.onHighlight(i));
      entry.addEventListener('mouseleave', () => this.events.onHighlight(null));
      entry.addEventListener('blur', () => this.events.onHighlight(null));
      return entry;
    });
    this.element.replaceChildren(...this.entries);
    this.recolor(colors);
  }

  recolor(colors: string[]): void {
    this.entries.forEach((entry, i) => {
      (entry.firstElementChild as HTMLElement).style.backgroundColor = colors[i];
    });
  }

  highlight(index: number | null): void {
    this.entries.forEach((entry, i) => entry.classList.toggle('highlighted', i === index));
  }
}
