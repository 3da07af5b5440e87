// The side panel in a real Chromium: 100 layers × 10,000 steps streamed through the view
// protocol must keep frames under 50 ms (p95) and the heap flat; the charts' data must stay
// within the point budget; findings, reload and theme changes must behave as in VS Code.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import type { Finding } from '../src/shared/findings';
import { VIEW_PROTOCOL_VERSION, type RunStatus, type ViewTestHook, type ViewToHostMessage } from '../src/shared/viewProtocol';
import { serveHarness, type Harness } from './webviewHarness';

const root = path.resolve(__dirname, '../..');
const outputDir = path.join(root, 'test-output/webview');
const LAYERS = 100;
const STEPS = 10_000;
const POINT_BUDGET = 400;
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

declare global {
  interface Window {
    __posted: ViewToHostMessage[];
    __fixture: {
      post(message: unknown): void;
      snapshot(spec: SnapshotSpec): Promise<void>;
      stream(from: number, total: number, layerCount: number, batch: number, intervalMs: number): Promise<number[]>;
    };
  }
}

/** What the harness' worker turns into a `snapshot` message (its generator makes the steps). */
interface SnapshotSpec {
  status: RunStatus;
  modelPath: string;
  layers: number;
  steps: number;
  findings: Finding[];
  /** Gradient scale of the previous run; absent for no comparison. */
  comparisonScale?: number;
  budget: number;
}

const FINDINGS: Finding[] = [
  {
    code: 'vanishing-gradient',
    severity: 'error',
    layer: 'conv2d_1',
    step: 12,
    message: "conv2d_1 gradient RMS 3.1e-9, 1.5e-7 of the last layer's; loss stuck at 2.30",
    evidence: {},
    fixes: [],
  },
  {
    code: 'saturated-activation',
    severity: 'warning',
    layer: 'conv2d_4',
    step: 20,
    message: 'conv2d_4: 62 % of sigmoid outputs saturated',
    evidence: {},
    fixes: [],
  },
  { code: 'slow-convergence', severity: 'info', message: 'Accuracy rose less than 0.01 in 40 steps', evidence: {}, fixes: [] },
];

/**
 * The panel bundled from source with scripts/build.mjs' webview settings. Not dist/webview.js:
 * a build running in parallel empties dist/ while it works.
 */
async function webviewBundle(): Promise<string> {
  const outfile = path.join(outputDir, 'webview.js');
  await esbuild.build({
    entryPoints: [path.join(root, 'webview/main.ts')],
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function hook(page: Page): Promise<ViewTestHook> {
  return page.evaluate(() => window.__gradientLens as ViewTestHook);
}

async function heapMb(cdp: CDPSession): Promise<number> {
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const used = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? NaN;
  return used / 2 ** 20;
}

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  tdur?: number;
  args?: { name?: string };
}

/**
 * Runs `work` under a Chrome trace and returns the main-thread CPU time of each frame task
 * (rAF callbacks, style, layout, paint, canvas raster) and of each task that handled a host
 * message. Thread time, unlike wall-clock frame gaps, leaves out the time the renderer waited
 * for a core, which on a shared 2-core machine can be most of it.
 */
async function mainThreadTaskTimes<T>(cdp: CDPSession, work: () => Promise<T>): Promise<{ result: T; frameMs: number[]; messageMs: number[] }> {
  const events: TraceEvent[] = [];
  const collect = (data: { value: object[] }) => events.push(...(data.value as TraceEvent[]));
  cdp.on('Tracing.dataCollected', collect);
  await cdp.send('Tracing.start', { traceConfig: { includedCategories: ['toplevel', 'devtools.timeline'] }, transferMode: 'ReportEvents' });
  const result = await work();
  const complete = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.end');
  await complete;
  cdp.off('Tracing.dataCollected', collect);

  const firstFrame = events.find((e) => e.name === 'FireAnimationFrame' && e.ph === 'X');
  assert.ok(firstFrame, 'the trace recorded animation frames');
  const onMain = events.filter((e) => e.pid === firstFrame.pid && e.tid === firstFrame.tid && e.ph === 'X');
  const startsOf = (name: string) => onMain.filter((e) => e.name === name).map((e) => e.ts);
  const frameStarts = startsOf('FireAnimationFrame');
  const messageStarts = startsOf('HandlePostMessage');
  const taskNames = new Set(['ThreadControllerImpl::RunTask', 'RunTask']);
  const frameMs: number[] = [];
  const messageMs: number[] = [];
  let previousEnd = -Infinity;
  for (const task of onMain.filter((e) => taskNames.has(e.name)).sort((a, b) => a.ts - b.ts)) {
    const end = task.ts + (task.dur ?? 0);
    if (task.ts < previousEnd) continue; // nested in a task already counted
    previousEnd = end;
    const within = (ts: number) => ts >= task.ts && ts <= end;
    if (frameStarts.some(within)) frameMs.push((task.tdur ?? 0) / 1000);
    else if (messageStarts.some(within)) messageMs.push((task.tdur ?? 0) / 1000);
  }
  return { result, frameMs, messageMs };
}

async function openPanel(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForFunction(() => window.__posted?.some((m) => m.type === 'ready') && window.__gradientLens !== undefined);
}

async function sendSnapshot(page: Page, spec: SnapshotSpec): Promise<void> {
  await page.evaluate((snapshot) => window.__fixture.snapshot(snapshot), spec);
  await page.waitForFunction(([steps, layers]) => window.__gradientLens?.stepCount === steps && window.__gradientLens.layerCount === layers, [
    spec.steps,
    spec.layers,
  ]);
}

function doneRun(steps: number, layers = LAYERS, comparisonScale: number | undefined = 3): SnapshotSpec {
  return {
    status: { phase: 'done', step: steps, totalSteps: steps },
    modelPath: '/workspace/models/vanishing-sigmoid/model.json',
    layers,
    steps,
    findings: FINDINGS,
    comparisonScale,
    budget: POINT_BUDGET,
  };
}

describe('webview panel in Chromium', () => {
  let harness: Harness;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;

  before(async () => {
    mkdirSync(outputDir, { recursive: true });
    harness = await serveHarness(await webviewBundle(), path.join(root, 'media/panel.css'));
    userDataDir = mkdtempSync(path.join(tmpdir(), 'gradient-lens-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      headless: true,
      viewport: { width: 420, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => assert.fail(`page error: ${error.message}`));
    await openPanel(page, harness.url);
  });

  after(async () => {
    await context?.close();
    await harness?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  test('posts ready with the protocol version and shows the empty state', async () => {
    const posted = await page.evaluate(() => window.__posted);
    assert.deepEqual(posted[0], { type: 'ready', protocolVersion: VIEW_PROTOCOL_VERSION });
    assert.equal(await page.locator('.empty-state').isVisible(), true);
  });

  test('streams 100 layers × 10,000 steps smoothly with bounded data and heap', async () => {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    await sendSnapshot(page, {
      status: { phase: 'running', step: 0, totalSteps: STEPS },
      modelPath: '/workspace/deep-100/model.json',
      layers: LAYERS,
      steps: 0,
      findings: [],
      budget: POINT_BUDGET,
    });
    // Batches of 50 steps every 25 ms: faster than the host's 20 messages a second.
    const firstGaps = await page.evaluate(([layers]) => window.__fixture.stream(0, 2_000, layers, 50, 25), [LAYERS] as const);
    const heapAfter2k = await heapMb(cdp);
    const { result: laterGaps, frameMs, messageMs } = await mainThreadTaskTimes(cdp, () =>
      page.evaluate(([layers]) => window.__fixture.stream(2_000, 8_000, layers, 50, 25), [LAYERS] as const),
    );
    const heapAfter10k = await heapMb(cdp);
    await page.waitForFunction((n) => window.__gradientLens?.stepCount === n, STEPS);

    const gaps = [...firstGaps, ...laterGaps];
    const wallP95 = percentile(gaps, 95);
    const frameP95 = percentile(frameMs, 95);
    const messageP95 = percentile(messageMs, 95);
    const loadPerCore = loadavg()[0] / cpus().length;
    const stats = (values: number[]) =>
      `p50 ${percentile(values, 50).toFixed(1)} ms, p95 ${percentile(values, 95).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms`;
    console.log(
      `wall-clock frame gaps (${gaps.length}): ${stats(gaps)}; main-thread CPU per frame task (${frameMs.length}): ${stats(frameMs)}; ` +
        `per message task (${messageMs.length}): ${stats(messageMs)}; load ${loadPerCore.toFixed(1)} per core; ` +
        `heap ${heapAfter2k.toFixed(1)} MB after 2,000 steps, ${heapAfter10k.toFixed(1)} MB after 10,000`,
    );
    assert.ok(frameP95 < 50, `p95 main-thread CPU per frame ${frameP95.toFixed(1)} ms`);
    assert.ok(messageP95 < 50, `p95 main-thread CPU per message ${messageP95.toFixed(1)} ms`);
    // Wall-clock gaps also count the time the thread waited for a core; on an overloaded
    // machine they measure the neighbours, so they are held to the bar only when cores are free.
    if (loadPerCore < 1) assert.ok(wallP95 < 50, `p95 wall-clock frame gap ${wallP95.toFixed(1)} ms`);
    else console.log(`wall-clock p95 not asserted: load ${loadPerCore.toFixed(1)} per core`);
    assert.ok(heapAfter10k < 200, `heap ${heapAfter10k.toFixed(1)} MB`);
    // 4× the steps must not mean 4× the heap: the panel keeps bounded buckets, not the steps.
    assert.ok(heapAfter10k - heapAfter2k < 10, `heap grew ${(heapAfter10k - heapAfter2k).toFixed(1)} MB from 2,000 to 10,000 steps`);

    const state = await hook(page);
    assert.equal(state.stepCount, STEPS);
    assert.equal(state.layerCount, LAYERS);
    assert.equal(state.charts.gradientRms.seriesCount, LAYERS);
    // 100 layers share the chart's 10,000-point total: 50 buckets of a min and a max each.
    for (const points of state.charts.gradientRms.pointsPerSeries) {
      assert.ok(points >= 25 && points <= 100, `${points} points in a series`);
    }
    assert.deepEqual(state.charts.gradientFlow.pointsPerSeries, [LAYERS]);
    assert.ok(state.charts.loss.pointsPerSeries.every((n) => n <= POINT_BUDGET));
    assert.equal(state.charts.activationHealth.seriesCount, 2);
    assert.match(state.charts.gradientRms.ariaLabel, /^Gradient RMS for 100 layers over 10000 steps; first\/last layer ratio \d/);
    assert.ok(state.redraws < 2 * (gaps.length + 1), 'redraws are coalesced to at most one per frame');
    await page.screenshot({ path: path.join(outputDir, 'stream-100-layers.png'), fullPage: true });
  });

  test('activating a finding by click or keyboard posts revealLayer', async () => {
    await sendSnapshot(page, doneRun(120));
    const finding = page.locator('.finding[data-layer="conv2d_4"]');
    await finding.click();
    await page.locator('.finding[data-layer="conv2d_1"]').focus();
    await page.keyboard.press('Enter');
    await page.keyboard.press('Space');
    const reveals = await page.evaluate(() => window.__posted.filter((m) => m.type === 'revealLayer'));
    assert.deepEqual(reveals, [
      { type: 'revealLayer', layer: 'conv2d_4' },
      { type: 'revealLayer', layer: 'conv2d_1' },
      { type: 'revealLayer', layer: 'conv2d_1' },
    ]);
    // The error comes first, and the finding without a layer is not offered as a button.
    assert.equal(await page.locator('.finding').first().getAttribute('data-code'), 'vanishing-gradient');
    assert.equal(await page.locator('.finding[data-code="slow-convergence"]').getAttribute('role'), null);
  });

  test('controls post stop, rerun, findLearningRate, compareFixes, exportReport and exportChart', async () => {
    await page.evaluate(() => window.__fixture.post({ type: 'status', status: { phase: 'running', step: 3, totalSteps: 100 } }));
    await page.waitForFunction(() => window.__gradientLens?.status.phase === 'running');
    await page.locator('vscode-button', { hasText: 'Stop' }).click();
    await page.evaluate(() => window.__fixture.post({ type: 'status', status: { phase: 'done', step: 120, totalSteps: 120 } }));
    await page.waitForFunction(() => window.__gradientLens?.status.phase === 'done');
    // After the run, Stop is disabled and no longer the primary button: Re-run is (the toolbar renders on the next frame).
    const looks = () =>
      Object.fromEntries(
        [...document.querySelectorAll('vscode-button')]
          .filter((b) => b.textContent === 'Stop' || b.textContent === 'Re-run')
          .map((b) => [b.textContent, { disabled: (b as HTMLElement & { disabled: boolean }).disabled, secondary: (b as HTMLElement & { secondary: boolean }).secondary }]),
      );
    await page.waitForFunction(() => document.querySelector('vscode-button[secondary]')?.textContent === 'Stop', undefined, { timeout: 5_000 }).catch(() => undefined);
    assert.deepEqual(await page.evaluate(looks), { Stop: { disabled: true, secondary: true }, 'Re-run': { disabled: false, secondary: false } });
    await page.locator('vscode-button', { hasText: 'Re-run' }).click();
    await page.locator('vscode-button', { hasText: 'Find learning rate' }).click();
    await page.locator('vscode-button', { hasText: 'Compare fixes' }).click();
    await page.locator('vscode-button', { hasText: 'Export JSON' }).click();
    await page.locator('#section-gradientFlow vscode-button.export-png').click();
    const posted = await page.evaluate(() => window.__posted.map((m) => (m.type === 'exportChart' ? { ...m, dataUrl: m.dataUrl.slice(0, 22) } : m)));
    assert.deepEqual(
      posted.filter((m) => m.type !== 'ready' && m.type !== 'revealLayer'),
      [
        { type: 'stop' },
        { type: 'rerun' },
        { type: 'findLearningRate' },
        { type: 'compareFixes' },
        { type: 'exportReport', format: 'json' },
        { type: 'exportChart', chart: 'gradientFlow', dataUrl: 'data:image/png;base64,' },
      ],
    );
  });

  test('a snapshot with a range test and a fix comparison shows both charts; a later snapshot without them hides them', async () => {
    const shown = await page.evaluate(async () => {
      const series = { layers: [], step: new Float64Array(0), loss: new Float64Array(0), accuracy: new Float64Array(0), gradRms: new Float64Array(0), latest: null };
      const points = Array.from({ length: 80 }, (_, i) => ({ lr: 1e-7 * Math.pow(1e8, i / 99), loss: 2.3 - i * 0.01, smoothed: 2.3 - i * 0.01 }));
      const outcome = (finalLoss: number) => ({ finalLoss, accuracy: 0.5, firstLastRatio: 1, deadFraction: 0, loss: [2.3, 1.5, finalLoss], steps: 3, durationMs: 1 });
      const base = { type: 'snapshot', protocolVersion: 2, status: { phase: 'done', step: 3, totalSteps: 3 }, modelPath: '/m/model.json', layers: [], series, findings: [], comparison: null, settings: { chartPointBudget: 400, flowThresholds: { vanishingRatio: 1e-3, explodingRatio: 70 } } };
      window.__fixture.post({
        ...base,
        lrRange: { optimizer: 'adam', currentLr: 0.1, sweep: { startLr: 1e-7, endLr: 10, steps: 100 }, points, stoppedEarly: true, minLossLr: 0.02, minLoss: 1.5, startLoss: 2.3, relativeFall: 0.35, durationMs: 5, suggestedLr: 2.5e-3, steepestLr: 2e-3 },
        fixComparison: {
          findingCode: 'vanishing-gradient',
          baseline: outcome(2.3),
          candidates: [
            { fixCode: 'use-relu', title: 'Use ReLU', rank: 1, outcome: outcome(0.6), remaining: [] },
            { fixCode: 'add-batch-normalization', title: 'Add BN', rank: 2, outcome: outcome(0.9), remaining: [] },
            { fixCode: 'change-initializer', title: 'Init', rank: 0, remaining: [], error: 'failed' },
          ],
          parallel: 2,
          durationMs: 9,
        },
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const visible = (id: string) => !(document.getElementById(id) as HTMLElement).hidden;
      const first = { range: visible('section-lrRange'), compare: visible('section-fixComparison'), hook: window.__gradientLens?.measurements, rangeLabel: document.querySelector('#section-lrRange canvas')?.getAttribute('aria-label') };
      window.__fixture.post({ ...base, lrRange: null, fixComparison: null });
      await new Promise((resolve) => setTimeout(resolve, 300));
      return { first, after: { range: visible('section-lrRange'), compare: visible('section-fixComparison') } };
    });
    assert.deepEqual(shown.first.hook, { lrRangePoints: 80, comparedCandidates: 2 });
    assert.equal(shown.first.range, true);
    assert.equal(shown.first.compare, true);
    assert.match(shown.first.rangeLabel ?? '', /suggested 2\.5e-3, the file's 0\.1/);
    assert.deepEqual(shown.after, { range: false, compare: false });
    // The snapshots above had no layers: the tests after this one read the streamed run's legend.
    await sendSnapshot(page, doneRun(1_000));
  });

  test('while a run goes on the progress bar follows the step and nothing in the panel animates', async () => {
    // A spinner or an indeterminate bar repaints every frame for the whole run: in a
    // software-rendered VS Code that took a third of a core from the host and the engine.
    await page.evaluate(() => window.__fixture.post({ type: 'status', status: { phase: 'running', step: 30, totalSteps: 120 } }));
    await page.waitForFunction(() => window.__gradientLens?.status.phase === 'running');
    const running = await page.evaluate(async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const bar = document.querySelector('.run-progress') as HTMLElement & { value?: number; max: number };
      const container = bar.shadowRoot?.querySelector('[role="progressbar"]');
      return {
        visible: getComputedStyle(bar).visibility === 'visible',
        value: bar.value,
        max: bar.max,
        valueNow: container?.getAttribute('aria-valuenow'),
        discrete: container?.classList.contains('discrete'),
        runningAnimations: document.getAnimations().filter((a) => a.playState === 'running').length,
      };
    });
    assert.deepEqual(running, { visible: true, value: 30, max: 120, valueNow: '30', discrete: true, runningAnimations: 0 });
    // A followed watch() run has no known length: no bar (it would read full from the first step).
    await page.evaluate(() => window.__fixture.post({ type: 'status', status: { phase: 'running', step: 40 } }));
    await page.waitForFunction(() => window.__gradientLens?.status.step === 40);
    await page.waitForFunction(() => getComputedStyle(document.querySelector('.run-progress')!).visibility === 'hidden', undefined, { timeout: 5_000 });
    await page.evaluate(() => window.__fixture.post({ type: 'status', status: { phase: 'done', step: 120, totalSteps: 120 } }));
    await page.waitForFunction(() => window.__gradientLens?.status.phase === 'done');
    await page.waitForFunction(() => getComputedStyle(document.querySelector('.run-progress')!).visibility === 'hidden');
  });

  test('a reload followed by the host snapshot restores charts and the legend state', async () => {
    await page.locator('.legend-section .collapsible-header').click();
    await page.getByRole('button', { name: 'conv2d_7', exact: true }).click();
    await page.reload();
    await page.waitForFunction(() => window.__posted?.some((m) => m.type === 'ready'));
    assert.equal((await hook(page)).stepCount, 0, 'a reloaded panel starts empty until the snapshot');
    await sendSnapshot(page, doneRun(1_000));
    const state = await hook(page);
    assert.equal(state.charts.gradientRms.seriesCount, LAYERS);
    assert.ok(state.charts.gradientRms.pointsPerSeries.every((n) => n > 0 && n <= POINT_BUDGET));
    assert.equal(state.charts.gradientFlow.seriesCount, 2, 'bars and the previous run');
    assert.equal(state.charts.loss.seriesCount, 4, 'loss and accuracy, now and before');
    assert.equal(state.findingCount, 3);
    assert.equal(await page.getByRole('button', { name: 'conv2d_7', exact: true }).getAttribute('aria-pressed'), 'false');
    assert.equal(await page.getByRole('button', { name: 'conv2d_8', exact: true }).getAttribute('aria-pressed'), 'true');
  });

  test('in a narrow side bar the header shows the whole file name and status, the status on a line of its own', async () => {
    await page.setViewportSize({ width: 260, height: 900 });
    try {
      await sendSnapshot(page, {
        ...doneRun(200, 10, 0.2),
        status: { phase: 'done', step: 200, totalSteps: 200, message: 'backend wasm' },
        modelPath: '/workspace/samples/vanishing-sigmoid-10conv/keras2.json',
      });
      // The header is drawn on the panel's next frame, after the snapshot is posted.
      await page.waitForFunction(() => document.querySelector('.run-title')?.textContent === 'keras2.json');
      const header = await page.evaluate(() => {
        const box = (selector: string) => {
          const element = document.querySelector(selector) as HTMLElement;
          const rect = element.getBoundingClientRect();
          return { text: element.textContent, top: rect.top, cut: element.scrollWidth > element.clientWidth };
        };
        return { title: box('.run-title'), status: box('.run-status') };
      });
      assert.equal(header.title.text, 'keras2.json');
      assert.equal(header.title.cut, false, 'the file name is not cut');
      assert.match(header.status.text ?? '', /^Done, 200 steps/);
      assert.equal(header.status.cut, false, 'the status is not cut');
      assert.ok(header.status.top > header.title.top, `the status wraps below the name (${header.status.top} vs ${header.title.top})`);
    } finally {
      await page.setViewportSize({ width: 420, height: 900 });
    }
  });

  test('a theme change recolours the charts; screenshots in dark and light', async () => {
    await page.setViewportSize({ width: 420, height: 1500 });
    // Ten layers read better in a screenshot than a hundred.
    await sendSnapshot(page, {
      ...doneRun(200, 10, 0.2),
      modelPath: '/workspace/samples/vanishing-sigmoid-10conv/keras2.json',
      findings: FINDINGS.slice(0, 2),
    });
    const dark = await hook(page);
    assert.equal(dark.theme, 'dark');
    await page.screenshot({ path: path.join(outputDir, 'panel.png'), fullPage: true });

    await page.evaluate(() => document.body.classList.replace('vscode-dark', 'vscode-light'));
    await page.waitForFunction(() => window.__gradientLens?.theme === 'light');
    const light = await hook(page);
    assert.notEqual(light.charts.gradientRms.firstSeriesColor, dark.charts.gradientRms.firstSeriesColor);
    assert.notEqual(light.charts.loss.firstSeriesColor, dark.charts.loss.firstSeriesColor);
    assert.equal(light.charts.gradientRms.firstSeriesColor, 'rgb(26, 133, 255)', 'light theme --vscode-charts-blue');
    await page.screenshot({ path: path.join(outputDir, 'panel-light.png'), fullPage: true });
  });
});
