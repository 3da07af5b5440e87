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

/**
 * A Python file that builds a Keras model (`keras` / `tf.keras` imported, no torch), read from its
 * text only: the engine runs it in the user's Keras when they ask for an analysis.
 */
export { buildsKerasModel as isKerasModelText } from '../shared/kerasSource';

/** `.keras` (zip) and `.h5` (HDF5) files: binary, so the host never opens them as text. */
export function isBinaryKerasPath(fsPath: string): boolean {
  return /\.(keras|h5|hdf5)$/i.test(fsPath);
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

export interface TorchModuleCandidate {
  name: string;
  /** True when `__init__` has parameters without defaults: the trainer cannot build it alone. */
  needsArguments: boolean;
}

/**
 * The `nn.Module` subclasses a file defines, read from its text (no import): what the host
 * offers in a quick pick when more than one could be trained. A class's base list must name
 * `Module` (`nn.Module`, `torch.nn.Module`, `Module`) or another class of the file that does.
 */
export function torchModuleCandidates(text: string): TorchModuleCandidate[] {
  const lines = text.split(/\r\n|\r|\n/);
  const modules = new Set<string>();
  const found: TorchModuleCandidate[] = [];
  for (let i = 0; i < lines.length; i++) {
    const header = /^class\s+([A-Za-z_]\w*)\s*\(([^)]*)\)\s*:/.exec(lines[i]);
    if (!header) continue;
    const bases = header[2].split(',').map((base) => base.trim().split('.').pop() ?? '');
    if (!bases.some((base) => base === 'Module' || modules.has(base))) continue;
    modules.add(header[1]);
    let needsArguments = false;
    for (let j = i + 1; j < lines.length && (lines[j].trim() === '' || /^\s/.test(lines[j])); j++) {
      const init = /^\s+def\s+__init__\s*\(([^)]*)\)?/.exec(lines[j]);
      if (!init) continue;
      // The signature may span lines: read up to its closing parenthesis.
      let signature = lines.slice(j, j + 20).join(' ');
      signature = signature.slice(signature.indexOf('(') + 1, signature.indexOf(')'));
      const parameters = signature.split(',').map((p) => p.trim()).filter((p) => p !== '' && p !== 'self' && !p.startsWith('*') && p !== '/');
      needsArguments = parameters.some((p) => !p.includes('='));
      break;
    }
    found.push({ name: header[1], needsArguments });
  }
  return found;
}

/** `C,H,W` (or `C, H, W`, `(1, 28, 28)`) from an input box: the numbers, or why not. */
export function parseInputShape(text: string): number[] | string {
  const parts = text.replace(/[()[\]\s]/g, '').split(',').filter((p) => p !== '');
  if (parts.length === 0 || parts.length > 4) return 'give the shape of one example as C,H,W, e.g. 3,64,64';
  const numbers = parts.map(Number);
  if (numbers.some((n) => !Number.isInteger(n) || n <= 0)) return 'each size must be a positive integer';
  return numbers;
}

/** The trainer's refusal when it cannot infer the input shape (python/gradient_lens/model_file.py). */
export function asksForInputShape(message: string): boolean {
  return /cannot tell the input shape|say the input shape with --input-shape/.test(message);
}
