import type { FixContext, TorchFixContext } from '../../diagnosis';
import type { Fix } from '../../findings';
import type { TorchLayer, TorchSourceSite } from '../../pytorchProtocol';
import type { Range, TextEdit } from '../../textRange';
import { learningRateProposal, rangeTestNote } from '../trainingFixes';
import { PythonSource, type PythonCall } from './pythonSource';

// Fix planners for PyTorch model files: the trainer located every module's constructor call
// (and its activation's call) in the source; these turn a fix code into minimal text edits there,
// leaving everything else in the file as the user wrote it.

const WEIGHTED = /^(Conv[123]d|ConvTranspose[123]d|Linear|LazyConv[123]d|LazyLinear)$/;
const BATCH_NORM = /^(BatchNorm[123]d|SyncBatchNorm|GroupNorm|LayerNorm|InstanceNorm[123]d)$/;
const SATURATING = new Set(['sigmoid', 'tanh']);
const RELU_FAMILY = new Set(['relu', 'relu6']);

/** Module classes and function names of the activations the planners switch, by what they are switched from. */
const SATURATING_NAMES = new Set(['Sigmoid', 'Tanh', 'sigmoid', 'tanh', 'sigmoid_', 'tanh_']);
const RELU_NAMES = new Set(['ReLU', 'relu', 'relu_', 'ReLU6', 'relu6']);

class PythonPlan {
  readonly source: PythonSource;
  readonly torch: TorchFixContext;
  private readonly edits: TextEdit[] = [];
  private readonly touched = new Set<string>();

  constructor(readonly ctx: FixContext) {
    this.source = new PythonSource(ctx.text);
    this.torch = ctx.torch!;
  }

  /** Sites in the model file only: its text is the one the edits are against. */
  inModelFile(file: string | undefined): boolean {
    return file === undefined || normalise(file) === normalise(this.torch.modelPath);
  }

  get weighted(): TorchLayer[] {
    return this.torch.layers.filter((layer) => layer.instrumented && WEIGHTED.test(layer.className));
  }

  /** Weighted layers except the classifier, whose output scale and activation stay. */
  get hidden(): TorchLayer[] {
    const weighted = this.weighted;
    return weighted.slice(0, -1);
  }

  get output(): TorchLayer | undefined {
    return this.weighted.at(-1);
  }

  /** `nn.` when the file has `nn` imported (`import torch.nn as nn`, `from torch import nn`), else the full `torch.nn.`. */
  get nn(): string {
    return /^\s*(import\s+torch\.nn\s+as\s+nn\b|from\s+torch\s+import\s+([^#\n]*[\s,(])?nn\b)/m.test(this.ctx.text) ? 'nn.' : 'torch.nn.';
  }

  /** `F.` when the file imports `torch.nn.functional as F`, else the full path. */
  get functional(): string {
    const alias = /^\s*import\s+torch\.nn\.functional\s+as\s+([A-Za-z_]\w*)/m.exec(this.ctx.text) ?? /^\s*from\s+torch\.nn\s+import\s+functional\s+as\s+([A-Za-z_]\w*)/m.exec(this.ctx.text);
    return alias ? `${alias[1]}.` : 'torch.nn.functional.';
  }

  /** Adds an edit once: a block class's line serves every instance of the block. */
  add(edit: TextEdit): boolean {
    const key = JSON.stringify(edit);
    if (this.touched.has(key)) return false;
    this.touched.add(key);
    this.edits.push(edit);
    return true;
  }

  /** The call at `range` in the model file. */
  callAt(range: Range): PythonCall | undefined {
    return this.source.call(this.source.offset(range.start), this.source.offset(range.end));
  }

  fix(code: Fix['code'], title: string): Fix | undefined {
    return this.edits.length > 0 ? { code, title, edits: sortEdits(this.edits) } : undefined;
  }

  get editCount(): number {
    return this.edits.length;
  }
}

function normalise(file: string): string {
  return file.replace(/\\/g, '/').replace(/\/+/g, '/');
}

function sortEdits(edits: TextEdit[]): TextEdit[] {
  return [...edits].sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character);
}

interface ActivationSite {
  range: Range;
  file?: string;
  from: string;
}

/**
 * The activation calls of the hidden layers: the one the trainer attached to each weighted
 * layer, and activation modules of their own (`nn.Sigmoid()` in a Sequential). The classifier's
 * activation (a final sigmoid for a binary output) stays.
 */
function activationSites(plan: PythonPlan, names: Set<string>): ActivationSite[] {
  const output = plan.output;
  const keep = output?.activationRange ? JSON.stringify(output.activationRange) : undefined;
  const sites: ActivationSite[] = [];
  const seen = new Set<string>();
  const consider = (range: Range | undefined, file: string | undefined) => {
    if (!range || !plan.inModelFile(file)) return;
    const key = JSON.stringify(range);
    if (key === keep || seen.has(key)) return;
    const call = plan.callAt(range);
    if (!call || !names.has(call.name)) return;
    seen.add(key);
    sites.push({ range, file, from: call.name });
  };
  for (const layer of plan.hidden) consider(layer.activationRange, layer.activationFile ?? layer.site?.file);
  const outputIndex = output ? plan.torch.layers.indexOf(output) : plan.torch.layers.length;
  plan.torch.layers.forEach((layer, index) => {
    // Activation modules after the classifier belong to the output.
    if (index < outputIndex && !layer.instrumented) consider(layer.site?.range, layer.site?.file);
  });
  return sites;
}

// ──── use-relu ────

/**
 * `nn.Sigmoid()` / `nn.Tanh()` → `nn.ReLU()`, `torch.sigmoid(x)` → `torch.relu(x)`, `F.tanh(x)` →
 * `F.relu(x)`, `x.sigmoid()` → `x.relu()`; and He initialisation for the layers switched.
 * PyTorch's default init (kaiming_uniform with a = √5: weight variance 1/(3·fan_in)) shrinks a
 * ReLU signal at every layer: on the 10-conv vanishing sample the switch alone left the first
 * layer's gradient at 2.5e-3 of the last one's and the loss at 2.29 after 60 steps, with He
 * init added the ratio was 0.018, the loss 2.03 after 100 steps and nothing left to report.
 */
export function planPyUseRelu(ctx: FixContext): Fix | undefined {
  const plan = new PythonPlan(ctx);
  let switched = 0;
  for (const site of activationSites(plan, SATURATING_NAMES)) {
    const call = plan.callAt(site.range)!;
    const isModule = /^[A-Z]/.test(call.name);
    const replacement = isModule ? 'ReLU' : call.name.endsWith('_') ? 'relu_' : 'relu';
    if (plan.add(plan.source.replace(call.nameStart, call.nameEnd, replacement))) switched++;
  }
  if (switched === 0) return plan.fix('use-relu', 'Use ReLU instead of sigmoid/tanh');
  const saturating = (activation: string | undefined) => activation === 'sigmoid' || activation === 'tanh';
  const initialised = initializerEdit(plan, (layer) => (saturating(layer.activation) ? 'relu' : layer.activation));
  const places = `${switched} place${switched === 1 ? '' : 's'}`;
  return plan.fix('use-relu', `Use ReLU instead of sigmoid/tanh in ${places}${initialised ? ' (with He initialization)' : ''}`);
}

// ──── use-leaky-relu ────

/**
 * ReLU (or sigmoid/tanh) → LeakyReLU (negative slope 0.01, torch's default). `nn.ReLU(True)`
 * becomes `nn.LeakyReLU(inplace=True)`: LeakyReLU's first parameter is the slope, so a
 * positional `True` would silently set the slope to 1.
 */
export function planPyUseLeakyRelu(ctx: FixContext, from: 'relu' | 'saturating'): Fix | undefined {
  const plan = new PythonPlan(ctx);
  const source = plan.source;
  let switched = 0;
  for (const site of activationSites(plan, from === 'relu' ? RELU_NAMES : SATURATING_NAMES)) {
    const call = plan.callAt(site.range)!;
    const start = source.offset(site.range.start);
    let edits: TextEdit[];
    if (/^[A-Z]/.test(call.name)) {
      // Module: keep `inplace`, by keyword; other arguments (ReLU has none) are dropped.
      const inplace = call.args.find((arg) => arg.keyword === 'inplace') ?? call.args.find((arg) => arg.keyword === undefined);
      const inplaceText = inplace ? ctx.text.slice(inplace.valueStart, inplace.end) : undefined;
      const args = inplaceText !== undefined && inplaceText !== 'False' ? `inplace=${inplaceText}` : '';
      edits = [source.replace(call.nameStart, call.close + 1, `LeakyReLU(${args})`)];
    } else {
      const receiver = source.text.slice(start, call.nameStart).replace(/\.\s*$/, '');
      const functionalModule = receiver === 'F' || receiver === 'functional' || /(^|\.)nn\.functional$/.test(receiver) || `${receiver}.` === plan.functional;
      const isMethod = receiver !== '' && receiver !== 'torch' && !functionalModule;
      // `F.relu` keeps the file's own spelling of the functional module; `torch.relu` has no leaky sibling in `torch`.
      const functional = functionalModule ? `${receiver}.` : plan.functional;
      const inplace = call.name.endsWith('_') ? 'inplace=True' : undefined;
      if (isMethod) {
        // `x.relu()` → `F.leaky_relu(x)`.
        edits = [source.replace(start, call.close + 1, `${functional}leaky_relu(${receiver}${inplace ? `, ${inplace}` : ''})`)];
      } else {
        // `F.relu(x)`, `torch.relu(x)`, `torch.sigmoid(x)`: the input stays, `inplace` by keyword (leaky_relu's 2nd positional is the slope).
        const input = call.args[0];
        if (!input) continue;
        const rest = call.args.slice(1).map((arg) => (arg.keyword === undefined ? `inplace=${arg.text}` : arg.text));
        if (inplace && !rest.some((arg) => arg.startsWith('inplace'))) rest.push(inplace);
        const inner = [source.text.slice(input.start, input.end), ...rest].join(', ');
        edits = [source.replace(start, call.close + 1, `${functional}leaky_relu(${inner})`)];
      }
    }
    let added = false;
    for (const edit of edits) added = plan.add(edit) || added;
    if (added) switched++;
  }
  return plan.fix('use-leaky-relu', `Use LeakyReLU (negative slope 0.01) instead of ${from === 'relu' ? 'ReLU' : 'sigmoid/tanh'} in ${switched} place${switched === 1 ? '' : 's'}`);
}

// ──── add-batch-normalization ────

function batchNormClass(layer: TorchLayer): string | undefined {
  const dims = /^(?:Lazy)?Conv(?:Transpose)?([123])d$/.exec(layer.className)?.[1];
  if (dims) return `BatchNorm${dims}d`;
  return layer.className === 'Linear' ? 'BatchNorm1d' : undefined;
}

/**
 * The BatchNorm's channel count as the constructor call spells it: `out_channels` in a block
 * class that builds convs of many widths must stay the parameter, not the one value this model
 * happened to give it. A literal, or no readable argument, falls back to the module's own number.
 */
function channelsOf(layer: TorchLayer, source: PythonSource): string | undefined {
  const keyword = layer.className === 'Linear' ? 'out_features' : 'out_channels';
  const call = layer.site ? source.call(source.offset(layer.site.range.start)) : undefined;
  const written = call?.args.find((arg) => arg.keyword === keyword) ?? call?.args.filter((arg) => arg.keyword === undefined)[1];
  if (written) {
    const value = written.keyword === undefined ? written.text : written.text.slice(written.valueStart - written.start);
    if (value.trim() !== '') return value.trim();
  }
  const arg = layer.args?.[keyword];
  if (typeof arg === 'number') return String(arg);
  const width = layer.outputShape?.[0];
  return width === undefined ? undefined : String(width);
}

/** True when a normalisation module follows `layer` already (the next module registered beside it). */
function followedByNorm(layers: TorchLayer[], layer: TorchLayer): boolean {
  const index = layers.indexOf(layer);
  const parent = layer.name.includes('.') ? layer.name.slice(0, layer.name.lastIndexOf('.')) : '';
  for (let i = index + 1; i < layers.length; i++) {
    const next = layers[i];
    const nextParent = next.name.includes('.') ? next.name.slice(0, next.name.lastIndexOf('.')) : '';
    if (nextParent !== parent) return false;
    if (BATCH_NORM.test(next.className)) return true;
    if (next.instrumented && WEIGHTED.test(next.className)) return false;
  }
  return false;
}

/**
 * A BatchNorm after every hidden conv/linear layer that has none. In an `nn.Sequential` the
 * module goes right after the layer's argument; for an attribute (`self.conv1 = nn.Conv2d(...)`)
 * a new attribute follows the statement and `forward`'s call is wrapped:
 * `self.conv1(x)` → `self.conv1_bn(self.conv1(x))`. Layers built in loops or helpers are left
 * alone: no single place in the text adds a module to each.
 */
export function planPyAddBatchNormalization(ctx: FixContext): Fix | undefined {
  const plan = new PythonPlan(ctx);
  const source = plan.source;
  let added = 0;
  let inSequential = false;
  for (const layer of plan.hidden) {
    const site = layer.site;
    const bn = batchNormClass(layer);
    const channels = channelsOf(layer, source);
    if (!site || !bn || channels === undefined || !plan.inModelFile(site.file) || followedByNorm(plan.torch.layers, layer)) continue;
    const moduleText = `${plan.nn}${bn}(${channels})`;
    if (site.container === 'sequential') {
      if (plan.add(insertAfterArgument(source, site, moduleText))) {
        added++;
        inSequential = true;
      }
    } else if (site.container === 'attribute' && site.statementRange && (layer.callRanges?.length ?? 0) > 0) {
      const statement = source.slice(site.statementRange);
      const attribute = /^\s*self\.([A-Za-z_]\w*)\s*(?::[^=]*)?=/.exec(statement)?.[1];
      if (!attribute) continue;
      const name = uniqueAttribute(ctx.text, `${attribute}_bn`);
      const indent = site.indent ?? ' '.repeat(site.statementRange.start.character);
      const edits = [source.insert(source.offset(site.statementRange.end), `${source.eol}${indent}self.${name} = ${moduleText}`)];
      for (const call of layer.callRanges!) {
        edits.push(source.insert(source.offset(call.start), `self.${name}(`), source.insert(source.offset(call.end), ')'));
      }
      let any = false;
      for (const edit of edits) any = plan.add(edit) || any;
      if (any) added++;
    }
  }
  const note = inSequential ? ' (later nn.Sequential indices shift by one per insertion: saved checkpoints (state_dict) no longer match)' : '';
  return plan.fix('add-batch-normalization', `Add BatchNorm after ${added} conv/linear layer${added === 1 ? '' : 's'}${note}`);
}

/** A new argument right after the layer's own in `nn.Sequential(...)`, laid out as the others are (one per line, or inline). */
function insertAfterArgument(source: PythonSource, site: TorchSourceSite, moduleText: string): TextEdit {
  const end = source.offset(site.range.end);
  const text = source.text;
  let i = end;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  if (text[i] === ',') {
    const afterComma = i + 1;
    const restOfLine = source.lineText(source.position(afterComma).line).slice(source.position(afterComma).character);
    if (/^\s*(#.*)?$/.test(restOfLine)) {
      // One argument per line: a line of its own, at the layer's indentation.
      const line = source.position(end).line;
      const lineText = source.lineText(line);
      const indent = /^[ \t]*/.exec(lineText)![0];
      const startsLine = /^[ \t]*$/.test(lineText.slice(0, site.range.start.character));
      const lineIndent = startsLine ? indent : ' '.repeat(site.range.start.character);
      return source.insert(source.lineEnd(line), `${source.eol}${lineIndent}${moduleText},`);
    }
    return source.insert(afterComma, ` ${moduleText},`);
  }
  // The last argument: the new one follows it.
  return source.insert(end, `, ${moduleText}`);
}

function uniqueAttribute(text: string, base: string): string {
  let name = base;
  for (let k = 2; new RegExp(`\\bself\\.${name}\\b`).test(text); k++) name = `${base}${k}`;
  return name;
}

// ──── change-initializer ────

/** The `nn.init` call a weight needs for the activation after it (He for ReLU, Glorot for tanh, LeCun for sigmoid/SELU). */
export function initCall(nn: string, weight: string, activation: string | undefined): { line: string; scheme: string } {
  if (activation === 'leaky_relu') return { line: `${nn}init.kaiming_normal_(${weight}, nonlinearity="leaky_relu")`, scheme: 'He' };
  if (activation && (RELU_FAMILY.has(activation) || activation === 'elu' || activation === 'gelu')) {
    return { line: `${nn}init.kaiming_normal_(${weight}, nonlinearity="relu")`, scheme: 'He' };
  }
  if (activation === 'sigmoid' || activation === 'selu') return { line: `${nn}init.kaiming_normal_(${weight}, nonlinearity="linear")`, scheme: 'LeCun' };
  if (activation === 'tanh') return { line: `${nn}init.xavier_normal_(${weight}, gain=${nn}init.calculate_gain("tanh"))`, scheme: 'Glorot' };
  return { line: `${nn}init.xavier_normal_(${weight})`, scheme: 'Glorot' };
}

/**
 * Adds the initialisation each weighted layer's activation needs at the end of the trained
 * class's `__init__`, where every module exists and nothing overrides it afterwards (a bad
 * `nn.init.*` call earlier in `__init__` is overridden). Biases start at zero. A factory-function
 * entry has no `__init__` of its own: no fix.
 */
/**
 * Init calls for every weighted layer at the end of the trained class's `__init__` (after
 * anything that initialised it before), each for the activation `activationOf` gives it, and
 * zeroed biases. Undefined when the class or its `__init__` cannot be found or nothing is new.
 */
function initializerEdit(plan: PythonPlan, activationOf: (layer: TorchLayer) => string | undefined): boolean {
  const source = plan.source;
  const header = source.findClass(plan.torch.entry);
  if (!header) return false;
  const init = source.findMethod(source.blockBody(header), '__init__');
  if (!init) return false;
  const last = source.blockBody(init).at(-1);
  if (!last) return false;
  const indent = ' '.repeat(last.indent);
  const lines: string[] = [];
  for (const layer of [...plan.hidden, ...(plan.output ? [plan.output] : [])]) {
    if (!layer.accessPath) continue;
    const { line } = initCall(plan.nn, `${layer.accessPath}.weight`, layer === plan.output ? undefined : activationOf(layer));
    if (!lines.includes(line) && !plan.ctx.text.includes(line)) lines.push(line);
    const bias = `${plan.nn}init.zeros_(${layer.accessPath}.bias)`;
    if (layer.args?.bias !== false && !lines.includes(bias) && !plan.ctx.text.includes(bias)) lines.push(bias);
  }
  if (lines.length === 0) return false;
  return plan.add(source.insert(source.lineEnd(last.endLine), lines.map((line) => `${source.eol}${indent}${line}`).join('')));
}

export function planPyChangeInitializer(ctx: FixContext): Fix | undefined {
  const plan = new PythonPlan(ctx);
  if (!initializerEdit(plan, (layer) => layer.activation)) return undefined;
  return plan.fix('change-initializer', `Initialise the weights for their activations at the end of ${plan.torch.entry}.__init__ (He for ReLU, Glorot for tanh, LeCun for sigmoid) and zero the biases`);
}

// ──── learning rate / optimizer ────

function formatRate(rate: number): string {
  const text = String(rate);
  return /e/.test(text) ? rate.toExponential().replace('e+', 'e') : text;
}

/** Rewrites the `lr=` literal of the file's `torch.optim.X(...)`; without one, the setting (the trainer takes it as an override). */
export function planPyLearningRate(ctx: FixContext, direction: 'lower' | 'raise'): Fix {
  const { value: next, title } = learningRateProposal(ctx, direction);
  const code = direction === 'lower' ? 'lower-learning-rate' : 'raise-learning-rate';
  const site = ctx.torch?.optimizerSite;
  if (site?.learningRateRange && (ctx.torch === undefined || normalise(site.file) === normalise(ctx.torch.modelPath))) {
    const source = new PythonSource(ctx.text);
    const literal = source.slice(site.learningRateRange);
    if (/^[\d.eE+-]+$/.test(literal.trim())) {
      return { code, title, edits: [source.replace(source.offset(site.learningRateRange.start), source.offset(site.learningRateRange.end), formatRate(next))] };
    }
  }
  return { code, title, edits: [], setting: { key: 'gradientLens.learningRate', value: next } };
}

/** Plain SGD → Adam at its default rate: the file's `torch.optim.SGD(params, ...)` becomes `torch.optim.Adam(params, lr=0.001)`. */
export function planPyChangeOptimizer(ctx: FixContext): Fix | undefined {
  const current = ctx.options.optimizer;
  if (current === 'adam' || current === 'adamax') return undefined;
  const title = `Switch the optimizer from ${current} to Adam (learning rate 0.001)${rangeTestNote(ctx)}`;
  const site = ctx.torch?.optimizerSite;
  if (site && ctx.torch && normalise(site.file) === normalise(ctx.torch.modelPath)) {
    const source = new PythonSource(ctx.text);
    const call = source.call(source.offset(site.range.start), source.offset(site.range.end));
    const params = call?.args.find((arg) => arg.keyword === undefined || arg.keyword === 'params');
    if (call && params) {
      const start = source.offset(site.range.start);
      const prefix = source.text.slice(start, call.nameStart);
      return { code: 'change-optimizer', title, edits: [source.replace(start, call.close + 1, `${prefix}Adam(${source.text.slice(params.start, params.end)}, lr=0.001)`)] };
    }
  }
  return { code: 'change-optimizer', title, edits: [], setting: { key: 'gradientLens.optimizer', value: 'adam' } };
}
