import type { ViewToHostMessage } from '../src/shared/viewProtocol';

/** The parts of the panel's look that survive hide/show and reloads (the data comes from the host's snapshot). */
export interface UiState {
  scrollTop: number;
  closedSections: string[];
  legendOpen: boolean;
  hiddenLayers: string[];
}

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

const DEFAULT_UI_STATE: UiState = { scrollTop: 0, closedSections: [], legendOpen: false, hiddenLayers: [] };

/** The webview's only line to the extension host; `acquireVsCodeApi` may be called once per page. */
export class HostConnection {
  private readonly api = acquireVsCodeApi();
  private uiState: UiState;

  constructor() {
    const saved = this.api.getState() as Partial<UiState> | undefined;
    this.uiState = { ...DEFAULT_UI_STATE, ...saved };
  }

  post(message: ViewToHostMessage): void {
    this.api.postMessage(message);
  }

  get ui(): Readonly<UiState> {
    return this.uiState;
  }

  saveUi(change: Partial<UiState>): void {
    this.uiState = { ...this.uiState, ...change };
    this.api.setState(this.uiState);
  }
}
