import type { Severity } from '../src/shared/codes';
import type { Finding } from '../src/shared/findings';

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

// Drawn here rather than with codicons: the font would have to ship in the extension package.
const ICON_PATHS: Record<Severity, string> = {
  error: 'M8 1.5a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13zm2.6 8.2-.9.9L8 8.9l-1.7 1.7-.9-.9L7.1 8 5.4 6.3l.9-.9L8 7.1l1.7-1.7.9.9L8.9 8z',
  warning: 'M8 1.5 15 14H1zm-.7 4.5v4h1.4V6zm0 5.2v1.4h1.4v-1.4z',
  info: 'M8 1.5a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13zm-.7 3h1.4v1.4H7.3zm0 2.6h1.4v4.4H7.3z',
};

function severityIcon(severity: Severity): SVGSVGElement {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('class', `severity-icon ${severity}`);
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', ICON_PATHS[severity]);
  path.setAttribute('fill-rule', 'evenodd');
  svg.append(path);
  return svg;
}

/**
 * Findings, most severe first. A finding tied to a layer is a button (click, Enter or Space)
 * that asks the host to reveal the layer's line in the model file.
 */
export class FindingsList {
  readonly element: HTMLElement;

  constructor(private readonly onReveal: (layer: string) => void) {
    this.element = document.createElement('ul');
    this.element.className = 'findings';
  }

  render(findings: Finding[]): void {
    const sorted = [...findings].sort(
      (a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || (a.step ?? 0) - (b.step ?? 0),
    );
    if (sorted.length === 0) {
      const none = document.createElement('li');
      none.className = 'no-findings';
      none.textContent = 'No findings so far.';
      this.element.replaceChildren(none);
      return;
    }
    this.element.replaceChildren(...sorted.map((f) => this.item(f)));
  }

  private item(finding: Finding): HTMLLIElement {
    const item = document.createElement('li');
    item.className = `finding ${finding.severity}`;
    item.dataset.code = finding.code;
    const message = document.createElement('span');
    message.className = 'finding-message';
    message.textContent = finding.message;
    const meta = document.createElement('span');
    meta.className = 'finding-meta';
    meta.textContent = [finding.code, finding.layer, finding.step !== undefined ? `step ${finding.step}` : undefined]
      .filter(Boolean)
      .join(' · ');
    const text = document.createElement('span');
    text.className = 'finding-text';
    text.append(message, meta);
    item.append(severityIcon(finding.severity), text);

    const layer = finding.layer;
    if (layer !== undefined) {
      item.tabIndex = 0;
      item.setAttribute('role', 'button');
      item.setAttribute('aria-label', `${finding.severity}: ${finding.message}. Show layer ${layer} in the model file`);
      item.dataset.layer = layer;
      item.addEventListener('click', () => this.onReveal(layer));
      item.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          this.onReveal(layer);
        }
      });
    }
    return item;
  }
}
