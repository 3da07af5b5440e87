import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import { LIVE_UPDATE_INTERVAL_MS, type ChartId, type HostToViewMessage, type ViewTestHook } from '../src/shared/viewProtocol';
import { ActivationHealthChart } from './charts/activationHealthChart';
import { GradientFlowChart } from './charts/gradientFlowChart';
import { GradientRmsChart } from './charts/gradientRmsChart';
import { LossChart } from './charts/lossChart';
import { setPanelBackground, type PanelChart } from './charts/setup';
import { FindingsList } from './findingsList';
import { LayerLegend } from './layerLegend';
import { MeasurementsView } from './measurements';
import { RedrawScheduler } from './redrawScheduler';
import { RunModel } from './runModel';
import { observeThemeChanges, readTheme, type ThemeColors } from './theme';
import { Toolbar } from './toolbar';
import type { HostConnection } from './vscodeApi';

declare global {
  interface Window {
    __gradientLens?: ViewTestHook;
  }
}

/** The side panel: toolbar, findings and the four charts, redrawn from a RunModel. */
export class Panel {
  private readonly model = new RunModel();
  private theme: ThemeColors = readTheme();
  private readonly toolbar: Toolbar;
  private readonly empty = document.createElement('p');
  private readonly findings: FindingsList;
  private readonly findingsBadge = document.createElement('vscode-badge');
  private readonly legend: LayerLegend;
  private readonly legendSection: HTMLElement;
  private readonly rmsChart: GradientRmsChart;
  private readonly charts: PanelChart[];
  private readonly measurements: MeasurementsView;
  private readonly sections: HTMLElement[] = [];
  private readonly scheduler = new RedrawScheduler(() => this.redrawSlice(), LIVE_UPDATE_INTERVAL_MS);
  private readonly hiddenLayers: Set<string>;
  /** Charts on screen (IntersectionObserver), and the model version each chart last showed. */
  private readonly onScreen = new Set<PanelChart>();
  private readonly syncedVersion = new Map<PanelChart, number>();
  private readonly drawnVersion = new Map<PanelChart, number>();
  /** Charts still to draw in the current redraw cycle, one per animation frame. */
  private cycle: PanelChart[] = [];
  private drawnLayout = -1;
  private drawnFindings = -1;
  private redraws = 0;
  private idleCatchUp = false;
  private scrollRestored = false;

  constructor(
    root: HTMLElement,
    private readonly host: HostConnection,
  ) {
    setPanelBackground(this.theme.background);
    this.hiddenLayers = new Set(host.ui.hiddenLayers);
    this.toolbar = new Toolbar((message) => host.post(message));
    this.empty.className = 'empty-state';
    this.empty.textContent =
      'Run "Gradient Lens: Analyze Gradients" on a model file (Keras JSON or a TF.js model.json) to chart its gradients here.';
    this.findings = new FindingsList((layer) => host.post({ type: 'revealLayer', layer }));
    this.findingsBadge.slot = 'decorations';
    this.findingsBadge.variant = 'counter';

    const findingsSection = this.section('findings', 'Findings', this.findings.element);
    findingsSection.append(this.findingsBadge);

    const rmsBody = document.createElement('div');
    this.rmsChart = new GradientRmsChart(rmsBody, this.theme, (index) => this.legend.highlight(index));
    this.legend = new LayerLegend({
      onToggle: (index, visible) => this.toggleLayer(index, visible),
      onHighlight: (index) => this.highlightLayer(index),
    });
    this.legendSection = document.createElement('vscode-collapsible');
    Object.assign(this.legendSection, { heading: 'Layers', open: host.ui.legendOpen });
    this.legendSection.className = 'legend-section';
    this.legendSection.append(this.legend.element);
    this.legendSection.addEventListener('vsc-collapsible-toggle', (event) => host.saveUi({ legendOpen: event.detail.open }));
    rmsBody.append(this.legendSection);

    const flowBody = document.createElement('div');
    const lossBody = document.createElement('div');
    const activationBody = document.createElement('div');
    this.charts = [this.rmsChart, new GradientFlowChart(flowBody, this.theme), new LossChart(lossBody, this.theme), new ActivationHealthChart(activationBody, this.theme)];

    this.measurements = new MeasurementsView(this.theme);
    root.append(
      this.toolbar.element,
      this.empty,
      findingsSection,
      this.chartSection('gradientRms', 'Gradient RMS per layer', rmsBody),
      this.chartSection('gradientFlow', 'Gradient flow (latest step)', flowBody),
      this.chartSection('loss', 'Loss and accuracy', lossBody),
      this.chartSection('activationHealth', 'Activation health (latest step)', activationBody),
      this.measurements.rangeSection,
      this.measurements.compareSection,
    );

    const visibility = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const chart = this.charts.find((c) => c.canvas === entry.target);
        if (!chart) continue;
        if (entry.isIntersecting) this.onScreen.add(chart);
        else this.onScreen.delete(chart);
      }
      this.scheduler.request();
    });
    for (const chart of this.charts) visibility.observe(chart.canvas);

    observeThemeChanges(() => this.applyTheme());
    Object.defineProperty(window, '__gradientLens', { configurable: true, get: () => this.testHook() });
    let scrollSave: ReturnType<typeof setTimeout> | undefined;
    window.addEventListener(
      'scroll',
      () => {
        clearTimeout(scrollSave);
        scrollSave = setTimeout(() => host.saveUi({ scrollTop: window.scrollY }), 200);
      },
      { passive: true },
    );
    this.scheduler.request();
  }

  /** Folds the message into the model now; the drawing waits for the next coalesced frame. */
  receive(message: HostToViewMessage): void {
    switch (message.type) {
      case 'snapshot':
        this.model.applySnapshot(message);
        this.measurements.show(message.lrRange ?? null, message.fixComparison ?? null);
        break;
      case 'steps':
        this.model.appendSteps(message.steps);
        break;
      case 'finding':
        this.model.addFinding(message.finding);
        break;
      case 'status':
        this.model.setStatus(message.status);
        break;
      case 'clear':
        this.model.clear();
        this.measurements.show(null, null);
        break;
      default: {
        const unhandled: never = message;
        return unhandled;
      }
    }
    this.scheduler.request();
  }

  /** One frame's share of a redraw: the cheap DOM parts first, then one chart per frame. */
  private redrawSlice(): boolean {
    if (this.cycle.length === 0) {
      this.renderDom();
      // Charts off screen or in a closed section are brought up to date when they come into view.
      this.cycle = this.charts.filter((c) => this.onScreen.has(c) && this.drawnVersion.get(c) !== this.model.version);
    }
    const chart = this.cycle.shift();
    if (chart) this.drawChart(chart);
    if (this.cycle.length > 0) return true;
    this.redraws++;
    this.catchUpWhenIdle();
    if (!this.scrollRestored && this.model.hasRun) {
      this.scrollRestored = true;
      window.scrollTo(0, this.host.ui.scrollTop);
    }
    return false;
  }

  /** Off-screen charts are drawn when the panel has nothing else to do, so scrolling finds them ready. */
  private catchUpWhenIdle(): void {
    if (this.idleCatchUp) return;
    this.idleCatchUp = true;
    requestIdleCallback(() => {
      this.idleCatchUp = false;
      const stale = this.charts.find((c) => !this.onScreen.has(c) && this.drawnVersion.get(c) !== this.model.version);
      if (!stale) return;
      this.drawChart(stale);
      this.catchUpWhenIdle();
    });
  }

  private renderDom(): void {
    const model = this.model;
    this.toolbar.render(model.modelPath, model.status);
    this.empty.hidden = model.hasRun;
    for (const section of this.sections) section.hidden = !model.hasRun;

    if (this.drawnFindings !== model.findingsVersion) {
      this.drawnFindings = model.findingsVersion;
      this.findings.render(model.findings);
      this.findingsBadge.textContent = String(model.findings.length);
    }
    if (this.drawnLayout !== model.layoutVersion) {
      this.drawnLayout = model.layoutVersion;
      this.syncChart(this.rmsChart); // the legend takes its colours
      this.legend.rebuild(model.instrumented, model.instrumented.map((_, i) => this.rmsChart.layerColor(i)), this.hiddenLayers);
      this.legendSection.setAttribute('heading', `Layers (${model.instrumented.length})`);
      model.instrumented.forEach((layer, i) => {
        if (this.hiddenLayers.has(layer.name)) this.rmsChart.setLayerVisible(i, false);
      });
    }
  }

  private applyTheme(): void {
    const theme = readTheme();
    if (JSON.stringify(theme) === JSON.stringify(this.theme)) return;
    this.theme = theme;
    setPanelBackground(theme.background);
    for (const chart of this.charts) chart.setTheme(theme);
    this.measurements.setTheme(theme);
    this.legend.recolor(this.model.instrumented.map((_, i) => this.rmsChart.layerColor(i)));
  }

  private syncChart(chart: PanelChart): void {
    if (this.syncedVersion.get(chart) === this.model.version) return;
    chart.sync(this.model);
    this.syncedVersion.set(chart, this.model.version);
  }

  private drawChart(chart: PanelChart): void {
    if (this.drawnVersion.get(chart) === this.model.version) return;
    this.syncChart(chart);
    chart.draw();
    this.drawnVersion.set(chart, this.model.version);
  }

  private highlightLayer(index: number | null): void {
    this.rmsChart.highlight(index);
    this.legend.highlight(index);
  }

  private toggleLayer(index: number, visible: boolean): void {
    const name = this.model.instrumented[index]?.name;
    if (name === undefined) return;
    if (visible) this.hiddenLayers.delete(name);
    else this.hiddenLayers.add(name);
    this.rmsChart.setLayerVisible(index, visible);
    this.host.saveUi({ hiddenLayers: [...this.hiddenLayers] });
  }

  private section(id: string, heading: string, body: HTMLElement): HTMLElement {
    const section = document.createElement('vscode-collapsible');
    section.id = `section-${id}`;
    section.heading = heading;
    section.open = !this.host.ui.closedSections.includes(id);
    section.alwaysShowHeaderActions = true;
    section.append(body);
    section.addEventListener('vsc-collapsible-toggle', (event) => {
      const closed = new Set(this.host.ui.closedSections);
      if (event.detail.open) closed.delete(id);
      else closed.add(id);
      this.host.saveUi({ closedSections: [...closed] });
    });
    this.sections.push(section);
    return section;
  }

  private chartSection(id: ChartId, heading: string, body: HTMLElement): HTMLElement {
    const section = this.section(id, heading, body);
    const chart = this.charts.find((c) => c.id === id);
    const exportButton = document.createElement('vscode-button');
    exportButton.slot = 'actions';
    exportButton.secondary = true;
    exportButton.textContent = 'PNG';
    exportButton.title = `Save the ${heading.toLowerCase()} chart as a PNG image`;
    exportButton.className = 'export-png';
    exportButton.addEventListener('click', () => {
      if (!chart) return;
      this.drawChart(chart);
      this.host.post({ type: 'exportChart', chart: id, dataUrl: chart.toPng() });
    });
    section.append(exportButton);
    return section;
  }

  /** Computed when read, so the panel spends nothing on it unless a test looks. */
  private testHook(): ViewTestHook {
    const model = this.model;
    const charts = Object.fromEntries(
      this.charts.map((c) => {
        this.syncChart(c);
        return [c.id, c.summary()];
      }),
    ) as ViewTestHook['charts'];
    return {
      stepCount: model.stepCount,
      layerCount: model.instrumented.length,
      findingCount: model.findings.length,
      status: model.status,
      theme: this.theme.kind,
      redraws: this.redraws,
      charts,
      measurements: this.measurements.summary(),
    };
  }
}
