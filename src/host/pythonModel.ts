/** PyTorch model files as the host sees them, before any Python runs. Pure: tested without VS Code. */

export function isPythonDocument(document: { languageId: string; uri: { path: string } }): boolean {
  return document.languageId === 'python' || document.uri.path.endsWith('.py');
}

/**
 * A Python file that may define a PyTorch module. Only the text is looked at: importing the file
 * would run the user's code, which happens only when they ask for an analysis in a trusted workspace.
 */
export function isTorchModuleText(text: string): boolean {
  return /\bnn\.Module\b|\btorch\.nn\b|from\s+torch\s+import\s+[^\n]*\bnn\b/.test(text);
}

/** The part of the Python extension's API (`@vscode/python-extension`, and its older `settings` API) used here. */
export interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath?(resource?: unknown): { path: string } | undefined;
    resolveEnvironment?(environment: { path: string } | string): Promise<{ executable?: { uri?: { fsPath: string } } } | undefined>;
  };
  settings?: { getExecutionDetails?(resource?: unknown): { execCommand?: string[] } | undefined };
}

/** The active environment's interpreter, or undefined when the API gives none. */
export async function activeInterpreter(api: PythonExtensionApi | undefined, resource: unknown): Promise<string | undefined> {
  const environments = api?.environments;
  const active = environments?.getActiveEnvironmentPath?.(resource);
  if (active?.path) {
    const resolved = await environments?.resolveEnvironment?.(active).catch(() => undefined);
    return resolved?.executable?.uri?.fsPath ?? active.path;
  }
  const command = api?.settings?.getExecutionDetails?.(resource)?.execCommand;
  return command && command.length === 1 ? command[0] : undefined;
}

/** `gradientLens.pythonPath` when set, else the Python extension's interpreter, else the engine's default (python3, then /usr/bin/python3). */
export function choosePython(setting: unknown, fromExtension: string | undefined): { python?: string; source: string } {
  if (typeof setting === 'string' && setting.trim() !== '') return { python: setting.trim(), source: 'gradientLens.pythonPath' };
  if (fromExtension) return { python: fromExtension, source: "the Python extension's active environment" };
  return { source: 'default (python3, then /usr/bin/python3)' };
}
