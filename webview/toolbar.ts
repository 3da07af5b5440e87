import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import type { RunStatus, ViewToHostMessage } from '../src/shared/viewProtocol';
import { fileName } from './format';

const RUNNING = new Set<RunStatus['phase']>(['starting', 'running']);

function button(label: string, secondary: boolean, onClick: () => void): HTMLElement {
  const element = document.createElement('vscode-button');
  element.textContent = label;
  element.secondary = secondary;
  element.addEventListener('click', onClick);
  return element;
}

/** The run's name and status, and the Stop / Re-run / Export controls. */
export class Toolbar {
  readonly element: HTMLElement;
  private readonly title = document.createElement('span');
  private readonly status = document.createElement('span');
  /**
   * Determinate on purpose: an indeterminate bar or ring animates every frame for the whole run,
   * and in a software-rendered browser that cost the machine a third of a core, taken from
   * the extension host and the engine.
   */
  private readonly progress = document.createElement('vscode-progress-bar');
  private readonly stop: HTMLElement;
  private readonly rerun: HTMLElement;
  private readonly findLr: HTMLElement;
  private readonly compare: HTMLElement;
  private readonly exports: HTMLElement[];

  constructor(post: (message: ViewToHostMessage) => void) {
    this.element = document.createElement('header');
    this.element.className = 'toolbar';
    this.title.className = 'run-title';
    this.status.className = 'run-status';
    this.status.setAttribute('role', 'status');
    this.progress.ariaLabel = 'Analysis progress';
    this.progress.className = 'run-progress';
    this.stop = button('Stop', false, () => post({ type: 'stop' }));
    this.rerun = button('Re-run', true, () => post({ type: 'rerun' }));
    this.findLr = button('Find learning rate', true, () => post({ type: 'findLearningRate' }));
    this.compare = button('Compare fixes', true, () => post({ type: 'compareFixes' }));
    this.findLr.title = 'Re-run with the learning-rate range test: the loss at rates from 1e-6 to 10, and the rate it suggests';
    this.compare.title = 'Re-run, then try every fix of the top finding with the same seed and steps, and rank them by the loss they reach';
    this.exports = [
      button('Export Markdown', true, () => post({ type: 'exportReport', format: 'markdown' })),
      button('Export JSON', true, () => post({ type: 'exportReport', format: 'json' })),
    ];
    this.stop.title = 'Stop the analysis after the current step';
    this.rerun.title = 'Analyse the model file again; this run becomes the dashed comparison';

    const heading = document.createElement('div');
    heading.className = 'run-heading';
    heading.append(this.title, this.status);
    const actions = document.createElement('div');
    actions.className = 'run-actions';
    actions.append(this.stop, this.rerun, this.findLr, this.compare, ...this.exports);
    this.element.append(heading, actions, this.progress);
  }

  render(modelPath: string | null, status: RunStatus): void {
    const running = RUNNING.has(status.phase);
    this.title.textContent = modelPath ? fileName(modelPath) : 'Gradient Lens';
    this.title.title = modelPath ?? '';
    this.status.textContent = describeStatus(status);
    this.status.classList.toggle('failed', status.phase === 'failed');
    // visibility rather than hidden: the header keeps its height when the run ends. A run of unknown
    // length (a followed watch() run) has no fraction to show: a bar would sit full from its first step.
    this.progress.style.visibility = running && status.totalSteps ? 'visible' : 'hidden';
    this.progress.max = status.totalSteps ?? 1;
    this.progress.value = status.step ?? 0;
    setDisabled(this.stop, !running);
    // The one primary button is the action that makes sense now: Stop while running, Re-run after
    // (a disabled primary button still reads as the thing to press in most themes).
    setSecondary(this.stop, !running);
    setSecondary(this.rerun, running);
    setDisabled(this.rerun, running || modelPath === null);
    setDisabled(this.findLr, running || modelPath === null);
    setDisabled(this.compare, running || modelPath === null);
    const finished = status.phase === 'done' || status.phase === 'cancelled';
    for (const exportButton of this.exports) setDisabled(exportButton, !finished);
  }
}

function setSecondary(element: HTMLElement, secondary: boolean): void {
  (element as HTMLElement & { secondary: boolean }).secondary = secondary;
}

function setDisabled(element: HTMLElement, disabled: boolean): void {
  (element as HTMLElement & { disabled: boolean }).disabled = disabled;
}

export function describeStatus(status: RunStatus): string {
  const progress = status.totalSteps ? `step ${status.step ?? 0} of ${status.totalSteps}` : status.step !== undefined ? `step ${status.step}` : '';
  const detail = status.message ? ` (${status.message})` : '';
  switch (status.phase) {
    case 'idle':
      return '';
    case 'starting':
      return `Starting…${detail}`;
    case 'running':
      return `Running, ${progress}${detail}`;
    case 'done':
      return `Done, ${status.step ?? ''} steps${detail}`;
    case 'cancelled':
      return `Stopped at ${progress || 'the start'}${detail}`;
    case 'failed':
      return `Failed: ${status.message ?? 'unknown error'}`;
  }
}
