import * as vscode from 'vscode';
import type { Fix } from '../shared/findings';
import type { FindingDiagnostics } from './diagnostics';
import { toVsRange } from './diagnostics';
import { isBinaryKerasPath } from './pythonModel';
import { canApplyEdits, chooseFixes } from './fixSelection';
import { COMMANDS, DIAGNOSTIC_SOURCE } from './ids';

/** Arguments of the internal apply-fix command, captured when the action was offered. */
export interface ApplyFixArgs {
  uri: string;
  analyzedVersion: number;
  fix: Fix;
}

/** One QuickFix per fix of the findings under the cursor; the best one preferred. */
export class FixCodeActionProvider implements vscode.CodeActionProvider {
  static readonly metadata: vscode.CodeActionProviderMetadata = { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] };

  constructor(private readonly diagnostics: FindingDiagnostics) {}

  provideCodeActions(document: vscode.TextDocument, range: vscode.Range | vscode.Selection, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const current = this.diagnostics.findingsFor(document.uri);
    if (!current) return [];
    const selection = { start: range.start, end: range.end };
    const ours = context.diagnostics.filter((d) => d.source === DIAGNOSTIC_SOURCE);
    return chooseFixes(current.placed, selection).map((choice) => {
      const action = new vscode.CodeAction(choice.fix.title, vscode.CodeActionKind.QuickFix);
      action.isPreferred = choice.isPreferred;
      action.diagnostics = ours.filter((d) => typeof d.code === 'object' && d.code.value === choice.finding.code);
      const args: ApplyFixArgs = { uri: document.uri.toString(), analyzedVersion: current.version, fix: choice.fix };
      action.command = { command: COMMANDS.applyFix, title: choice.fix.title, arguments: [args] };
      return action;
    });
  }
}

/**
 * Applies a fix: its edits to the model file (only to the version the analysis saw) or its
 * setting. Returns false when nothing was applied.
 */
export async function applyFix(args: ApplyFixArgs): Promise<boolean> {
  const { fix } = args;
  if (fix.setting) {
    const [section, ...rest] = fix.setting.key.split('.');
    const target = vscode.workspace.workspaceFolders ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    await vscode.workspace.getConfiguration(section).update(rest.join('.'), fix.setting.value, target);
  }
  if (fix.edits.length === 0) return fix.setting !== undefined;
  const uri = vscode.Uri.parse(args.uri);
  // A .keras / .h5 file's fix edits its config, which lives inside the binary file: never edited in place.
  if (isBinaryKerasPath(uri.fsPath)) {
    void vscode.window.showInformationMessage(
      `Gradient Lens: ${vscode.workspace.asRelativePath(uri)} is binary, so "${fix.title}" is not applied to it; write an edited copy with \`gradient-lens analyze ${vscode.workspace.asRelativePath(uri)} --write-fixed\` (model.fixed.keras), or apply the fix in the .py that builds the model.`,
    );
    return false;
  }
  const document = await vscode.workspace.openTextDocument(uri);
  if (!canApplyEdits(args.analyzedVersion, document.version)) {
    void vscode.window.showWarningMessage(
      `Gradient Lens: ${vscode.workspace.asRelativePath(uri)} changed since it was analysed, so "${fix.title}" could land in the wrong place. Run Analyze Gradients again.`,
    );
    return false;
  }
  const edit = new vscode.WorkspaceEdit();
  for (const textEdit of fix.edits) edit.replace(uri, toVsRange(textEdit.range), textEdit.newText);
  return vscode.workspace.applyEdit(edit);
}
