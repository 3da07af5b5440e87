// A stand-in for the VS Code webview host around the real panel bundle: an HTTP page with a
// webview-like CSP, theme variables for dark and light, and a stub `acquireVsCodeApi` that
// records what the panel posts and keeps its state across reloads (as VS Code does).
// A worker on the page plays the host's part: it generates StepStats (so 100 layers × 10,000
// steps need not be shipped from Node) and its messages reach the panel as `message` events.
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { VIEW_PROTOCOL_VERSION } from '../src/shared/viewProtocol';

const NONCE = 'gradientlenstest';

// A few of the variables VS Code sets, with its Dark Modern / Light Modern values.
const THEME_CSS = `
body.vscode-dark {
  --vscode-foreground: #cccccc; --vscode-descriptionForeground: #9d9d9d; --vscode-sideBar-background: #181818;
  --vscode-editor-background: #1f1f1f; --vscode-charts-lines: rgba(204, 204, 204, 0.5);
  --vscode-charts-red: #f14c4c; --vscode-charts-blue: #3794ff; --vscode-charts-yellow: #cca700;
  --vscode-charts-orange: #d18616; --vscode-charts-green: #89d185; --vscode-charts-purple: #b180d7;
  --vscode-button-background: #0078d4; --vscode-button-foreground: #ffffff;
  --vscode-button-secondaryBackground: #313131; --vscode-button-secondaryForeground: #cccccc;
  --vscode-sideBarSectionHeader-background: #181818; --vscode-sideBarTitle-foreground: #cccccc;
  --vscode-list-hoverBackground: #2a2d2e; --vscode-focusBorder: #0078d4; --vscode-errorForeground: #f85149;
  --vscode-editorError-foreground: #f14c4c; --vscode-editorWarning-foreground: #cca700; --vscode-editorInfo-foreground: #3794ff;
  --vscode-badge-background: #616161; --vscode-badge-foreground: #f8f8f8; --vscode-widget-border: #313131;
}
body.vscode-light {
  --vscode-foreground: #3b3b3b; --vscode-descriptionForeground: #717171; --vscode-sideBar-background: #f8f8f8;
  --vscode-editor-background: #ffffff; --vscode-charts-lines: rgba(59, 59, 59, 0.5);
  --vscode-charts-red: #e51400; --vscode-charts-blue: #1a85ff; --vscode-charts-yellow: #bf8803;
  --vscode-charts-orange: #d18616; --vscode-charts-green: #388a34; --vscode-charts-purple: #652d90;
  --vscode-button-background: #005fb8; --vscode-button-foreground: #ffffff;
  --vscode-button-secondaryBackground: #e5e5e5; --vscode-button-secondaryForeground: #3b3b3b;
  --vscode-sideBarSectionHeader-background: #f8f8f8; --vscode-sideBarTitle-foreground: #3b3b3b;
  --vscode-list-hoverBackground: #f2f2f2; --vscode-focusBorder: #005fb8; --vscode-errorForeground: #f85149;
  --vscode-editorError-foreground: #e51400; --vscode-editorWarning-foreground: #bf8803; --vscode-editorInfo-foreground: #1a85ff;
  --vscode-badge-background: #cccccc; --vscode-badge-foreground: #3b3b3b; --vscode-widget-border: #e5e5e5;
}
body { --vscode-font-family: system-ui, "Ubuntu", "Droid Sans", sans-serif; --vscode-font-size: 13px; }
`;

const STUB_SCRIPT = `
window.__posted = [];
window.acquireVsCodeApi = () => ({
  postMessage: (message) => window.__posted.push(message),
  getState: () => JSON.parse(sessionStorage.getItem('panelState') ?? 'null') ?? undefined,
  setState: (state) => sessionStorage.setItem('panelState', JSON.stringify(state)),
});

// The "host" runs in a worker, so building messages costs the panel's thread nothing; only
// receiving them does, as in VS Code where they arrive from another process.
const host = new Worker('/fixture-worker.js');
let streamDone = null;
host.onmessage = (event) => {
  if (event.data.deliver) window.dispatchEvent(new MessageEvent('message', { data: event.data.deliver }));
  if (event.data.done) streamDone?.();
};
window.__fixture = {
  post(message) { window.postMessage(message, '*'); },
  snapshot(spec) {
    return new Promise((resolve) => { streamDone = resolve; host.postMessage({ cmd: 'snapshot', spec }); });
  },
  // Streams 'steps' batches every intervalMs and records animation-frame gaps meanwhile.
  async stream(from, total, layerCount, batch, intervalMs) {
    const gaps = [];
    let last = performance.now();
    let streaming = true;
    const tick = (now) => { gaps.push(now - last); last = now; if (streaming) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
    await new Promise((resolve) => { streamDone = resolve; host.postMessage({ cmd: 'stream', from, total, layerCount, batch, intervalMs }); });
    await new Promise((resolve) => setTimeout(resolve, 200));
    streaming = false;
    return gaps.slice(1);
  },
};
`;

// Gradient RMS shrinking ~4.7x per layer towards the input (the 10-conv sigmoid net of
// FACTS.md), with per-step noise, a falling loss, and activation statistics on every 3rd layer.
const WORKER_SCRIPT = `
function layers(count) {
  const list = [{ name: 'input_1', className: 'InputLayer', instrumented: false }];
  for (let i = 0; i < count; i++) {
    list.push({ name: 'conv2d_' + (i + 1), className: i === count - 1 ? 'Dense' : 'Conv2D', instrumented: true });
  }
  return list;
}
function step(step, layerCount, scale = 1) {
  const stats = [];
  for (let i = 0; i < layerCount; i++) {
    const depthFromEnd = layerCount - 1 - i;
    const rms = scale * 0.02 * Math.pow(4.7, -Math.min(depthFromEnd, 12)) * (1 + 0.3 * Math.sin(step * 0.37 + i));
    const layer = {
      layer: 'conv2d_' + (i + 1), gradL2: rms * 30, gradRms: rms, gradMeanAbs: rms * 0.8, gradMaxAbs: rms * 4,
      gradZeroFraction: 0, gradNonFinite: 0, weightL2: 3, updateRatio: 1e-3,
    };
    if (i % 3 === 0) {
      layer.activationMean = 0.5; layer.activationStd = 0.1;
      layer.deadFraction = Math.min(1, 0.05 + i / layerCount * 0.6);
      layer.saturatedFraction = (i * 7 % 10) / 40;
    }
    stats.push(layer);
  }
  // A run with weaker gradients (scale < 1) learns proportionally slower.
  const progress = (step / (step + 200)) * Math.min(1, scale);
  return { step, loss: 2.3 - 1.6 * progress + 0.05 * Math.sin(step), accuracy: 0.1 + 0.75 * progress, layers: stats };
}
function steps(from, count, layerCount, scale) {
  const out = [];
  for (let s = from; s < from + count; s++) out.push(step(s, layerCount, scale));
  return out;
}
// The columns the host's StepSeriesBuilder makes (src/shared/stepSeries.ts), typed arrays and all.
function series(list, layerCount) {
  const names = layers(layerCount).filter((l) => l.instrumented).map((l) => l.name);
  const gradRms = new Float64Array(list.length * names.length).fill(NaN);
  list.forEach((s, i) => s.layers.forEach((l) => { gradRms[i * names.length + names.indexOf(l.layer)] = l.gradRms; }));
  return {
    layers: names,
    step: Float64Array.from(list, (s) => s.step),
    loss: Float64Array.from(list, (s) => s.loss),
    accuracy: Float64Array.from(list, (s) => s.accuracy ?? NaN),
    gradRms,
    latest: list.length ? list[list.length - 1] : null,
  };
}
onmessage = async ({ data }) => {
  if (data.cmd === 'snapshot') {
    const spec = data.spec;
    postMessage({
      deliver: {
        type: 'snapshot',
        protocolVersion: ${VIEW_PROTOCOL_VERSION},
        status: spec.status,
        modelPath: spec.modelPath,
        layers: layers(spec.layers),
        series: series(steps(0, spec.steps, spec.layers), spec.layers),
        findings: spec.findings,
        comparison: spec.comparisonScale === undefined ? null
          : { label: 'previous run', layers: layers(spec.layers), series: series(steps(0, spec.steps, spec.layers, spec.comparisonScale), spec.layers), findings: [] },
        settings: { chartPointBudget: spec.budget },
      },
      done: true,
    });
  } else if (data.cmd === 'stream') {
    const { from, total, layerCount, batch, intervalMs } = data;
    for (let s = from; s < from + total; s += batch) {
      const count = Math.min(batch, from + total - s);
      postMessage({ deliver: { type: 'steps', steps: steps(s, count, layerCount) } });
      postMessage({ deliver: { type: 'status', status: { phase: 'running', step: s + count, totalSteps: from + total } } });
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    postMessage({ done: true });
  }
};
`;

function page(): string {
  const csp = `default-src 'none'; img-src 'self' data:; style-src 'self'; font-src 'self'; script-src 'nonce-${NONCE}'; worker-src 'self';`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<link rel="stylesheet" href="/theme.css"><link rel="stylesheet" href="/panel.css">
</head><body class="vscode-dark">
<script nonce="${NONCE}">${STUB_SCRIPT}</script>
<script nonce="${NONCE}" src="/webview.js"></script>
</body></html>`;
}

export interface Harness {
  url: string;
  close(): Promise<void>;
}

export async function serveHarness(bundlePath: string, cssPath: string): Promise<Harness> {
  const files: Record<string, [string, string]> = {
    '/': ['text/html', page()],
    '/theme.css': ['text/css', THEME_CSS],
    '/panel.css': ['text/css', readFileSync(cssPath, 'utf8')],
    '/webview.js': ['text/javascript', readFileSync(bundlePath, 'utf8')],
    '/fixture-worker.js': ['text/javascript', WORKER_SCRIPT],
  };
  const server: Server = createServer((request, response) => {
    const file = files[new URL(request.url ?? '/', 'http://x').pathname];
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': `${file[0]}; charset=utf-8` }).end(file[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
