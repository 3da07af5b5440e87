import * as vscode from 'vscode';
import { locateModel } from '../shared/locator';
import { CONTEXT_KEYS } from './ids';
import { isKerasModelText, isPythonDocument, isTorchModuleText } from './pythonModel';

/** JSON and Python files only: the locator would reject anything else, and parsing every file costs. */
export function mayBeModelFile(document: vscode.TextDocument): boolean {
  return document.languageId === 'json' || document.languageId === 'jsonc' || document.uri.path.endsWith('.json') || isPythonDocument(document);
}

export function isModelText(text: string, python = false): boolean {
  if (python) return isTorchModuleText(text) || isKerasModelText(text);
  try {
    locateModel(text);
    return true;
  } catch {
    return false;
  }
}

const RECHECK_DELAY_MS = 300;

/**
 * Keeps the `gradientLens.isModelFile` context key true while the active editor holds a model
 * file, so the editor-title button shows only there. Rechecked after typing pauses.
 * `onModelFile` hears each time a model file comes to the front (`python`: a `.py` one).
 */
export class ModelFileContext implements vscode.Disposable {
  private readonly subscriptions: vscode.Disposable[] = [];
  private recheckTimer: ReturnType<typeof setTimeout> | undefined;
  private lastValue: boolean | undefined;

  constructor(private readonly onModelFile: (python: boolean) => void = () => undefined) {
    this.subscriptions.push(
      vscode.window.onDidChangeActiveTextEditor(() => this.update()),
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.document !== vscode.window.activeTextEditor?.document) return;
        if (this.recheckTimer !== undefined) clearTimeout(this.recheckTimer);
        this.recheckTimer = setTimeout(() => this.update(), RECHECK_DELAY_MS);
      }),
    );
    this.update();
  }

  private update(): void {
    this.recheckTimer = undefined;
    const document = vscode.window.activeTextEditor?.document;
    const value = document !== undefined && mayBeModelFile(document) && isModelText(document.getText(), isPythonDocument(document));
    if (value === this.lastValue) return;
    this.lastValue = value;
    void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.isModelFile, value);
    if (value && document !== undefined) this.onModelFile(isPythonDocument(document));
  }

  dispose(): void {
    if (this.recheckTimer !== undefined) clearTimeout(this.recheckTimer);
    for (const subscription of this.subscriptions) subscription.dispose();
  }
}
