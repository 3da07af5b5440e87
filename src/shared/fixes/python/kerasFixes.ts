import type { FixContext, KerasSourceSite } from '../../diagnosis';
import type { Fix } from '../../findings';
import type { LayerInfo } from '../../model';
import type { TextEdit } from '../../textRange';
import { proposedLearningRate } from '../trainingFixes';
import { PythonSource, type PythonCall } from './pythonSource';

// Fix planners for Keras model source files (`.py` that builds a Sequential / functional model):
// the exporter recorded every layer's constructor call; these turn a fix code into minimal
// edits of those calls (`activation=`, `kernel_initializer=`), a `layers.BatchNormalization()`
// inserted after a conv (in the Sequential list or the functional chain), and the optimizer's
// `learning_rate=` literal. A call shared by many layers (a loop body, a helper function) is
// edited once, which changes every layer it builds — what the user would do by hand.

const KERNEL = /^(Conv[123]D|Dense|SeparableConv[12]D|DepthwiseConv2D|Conv2DTranspose)$/;
const CONV = /^(Conv[123]D|SeparableConv[12]D|DepthwiseConv2D)$/;
const SATURATING = new Set(['sigmoid', 'tanh', 'hard_sigmoid', 'softsign']);

class KerasPythonPlan {
  readonly source: PythonSource;
  readonly edits: TextEdit[] = [];
  private readonly touched = new Set<string>();

  constructor(readonly ctx: FixContext) {
    this.source = new PythonSource(ctx.text);
  }

  site(layer: LayerInfo): KerasSourceSite | undefined {
    return this.ctx.kerasPython?.sites[layer.name];
  }

  /** Kernel layers except the last (the classifier keeps its softmax), in model order. */
  get hidden(): LayerInfo[] {
    const kernels = this.ctx.layers.filter((layer) => KERNEL.test(layer.className));
    return kernels.slice(0, -1);
  }

  get output(): LayerInfo | undefined {
    return this.ctx.layers.filter((layer) => KERNEL.test(layer.className)).pop();
  }

  /** The constructor call at the layer's site, once per site (a loop body builds many layers). */
  call(layer: LayerInfo): PythonCall | undefined {
    const site = this.site(layer);
    if (!site) return undefined;
    const key = JSON.stringify(site.range);
    if (this.touched.has(key)) return undefined;
    const call = this.source.call(this.source.offset(site.range.start), this.source.offset(site.range.end));
    if (!call) return undefined;
    this.touched.add(key);
    return call;
  }

  /** Sets `keyword=value` on the call: replaces the argument's value, or appends the argument. */
  setKeyword(call: PythonCall, keyword: string, value: string): void {
    const existing = call.args.find((arg) => arg.keyword === keyword);
    if (existing) {
      this.edits.push(this.source.replace(existing.valueStart, existing.end, value));
      return;
    }
    const last = call.args[call.args.length - 1];
    this.edits.push(this.source.insert(last ? last.end : call.open + 1, `${last ? ', ' : ''}${keyword}=${value}`));
  }

  fix(code: Fix['code'], title: string): Fix | undefined {
    return this.edits.length > 0 ? { code, title, edits: this.edits } : undefined;
  }
}

function stringValue(source: PythonSource, call: PythonCall, keyword: string): string | undefined {
  const arg = call.args.find((a) => a.keyword === keyword);
  if (!arg) return undefined;
  const text = source.text.slice(arg.valueStart, arg.end).trim();
  const match = /^(['"])(.*)\1$/.exec(text);
  return match ? match[2] : undefined;
}

export function planKerasPyUseRelu(ctx: FixContext): Fix | undefined {
  const plan = new KerasPythonPlan(ctx);
  let switched = 0;
  for (const layer of plan.hidden) {
    if (!layer.activation || !SATURATING.has(layer.activation)) continue;
    const call = plan.call(layer);
    if (!call || !SATURATING.has(stringValue(plan.source, call, 'activation') ?? '')) continue;
    plan.setKeyword(call, 'activation', '"relu"');
    switched++;
  }
  return plan.fix('use-relu', `Use ReLU instead of sigmoid/tanh (${switched} layer call${switched === 1 ? '' : 's'} in the .py)`);
}

/** He for ReLU, Glorot for tanh, LeCun for sigmoid (TheDeepChecker's pairing). */
function schemeFor(activation: string | undefined): string {
  if (activation === 'relu' || activation === 'relu6' || activation === 'elu' || activation === 'leaky_relu') return 'he_normal';
  if (activation === 'sigmoid' || activation === 'selu') return 'lecun_normal';
  return 'glorot_uniform';
}

export function planKerasPyChangeInitializer(ctx: FixContext): Fix | undefined {
  if (ctx.trainedWeights) return undefined;
  const plan = new KerasPythonPlan(ctx);
  for (const layer of [...plan.hidden, ...(plan.output ? [plan.output] : [])]) {
    const scheme = schemeFor(layer.activation);
    if (layer.kernelInitializer && snake(layer.kernelInitializer) === scheme) continue;
    const call = plan.call(layer);
    if (call) plan.setKeyword(call, 'kernel_initializer', `"${scheme}"`);
  }
  return plan.fix('change-initializer', 'Use the initializer each activation needs (He for ReLU, Glorot for tanh, LeCun for sigmoid)');
}

function snake(name: string): string {
  return name.replace(/(.)([A-Z][a-z]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

/**
 * `layers.BatchNormalization()` after each hidden conv: as the next element of a `Sequential([...])`
 * list, or as `x = layers.BatchNormalization()(x)` after a functional `x = layers.Conv2D(...)(x)`.
 * The namespace (`layers.`, `keras.layers.`) is the one the conv call itself uses.
 */
export function planKerasPyAddBatchNormalization(ctx: FixContext): Fix | undefined {
  const plan = new KerasPythonPlan(ctx);
  const names = new Set(ctx.layers.map((l) => l.name));
  let added = 0;
  for (const layer of plan.hidden) {
    if (!CONV.test(layer.className)) continue;
    const next = ctx.layers[ctx.layers.indexOf(layer) + 1];
    if (next?.className === 'BatchNormalization' || !names.has(layer.name)) continue;
    const site = plan.site(layer);
    const call = site && plan.call(layer);
    if (!site || !call) continue;
    const namespace = plan.source.text.slice(plan.source.offset(site.range.start), call.nameStart);
    const end = plan.source.offset(site.range.end);
    if (site.container === 'sequential') {
      const column = site.range.start.character;
      plan.edits.push(plan.source.insert(end, `,${plan.source.eol}${' '.repeat(column)}${namespace}BatchNormalization()`));
      added++;
      continue;
    }
    // A functional chain: the statement is `target = <conv call>(input)`.
    if (!site.statementRange) continue;
    const statement = plan.source.slice(site.statementRange);
    const chained = /^\s*([A-Za-z_]\w*)\s*=\s*/.exec(statement);
    const after = plan.source.text.slice(end, plan.source.offset(site.statementRange.end));
    if (!chained || !/^\s*\(/.test(after)) continue;
    const target = chained[1];
    const statementEnd = plan.source.offset(site.statementRange.end);
    plan.edits.push(plan.source.insert(statementEnd, `${plan.source.eol}${site.indent ?? ''}${target} = ${namespace}BatchNormalization()(${target})`));
    added++;
  }
  return plan.fix('add-batch-normalization', `Add BatchNormalization after ${added} conv call${added === 1 ? '' : 's'} in the .py`);
}

/** The `learning_rate=<number>` literal of the optimizer, when the file has exactly one. */
export function planKerasPyLearningRate(ctx: FixContext, direction: 'lower' | 'raise'): Fix | undefined {
  const source = new PythonSource(ctx.text);
  const literals = [...ctx.text.matchAll(/\blearning_rate\s*=\s*([0-9][0-9_]*\.?[0-9_]*(?:[eE][-+]?\d+)?|\.[0-9]+(?:[eE][-+]?\d+)?)/g)].filter(
    (m) => source.isCode(m.index ?? 0),
  );
  if (literals.length !== 1) return undefined;
  const match = literals[0];
  const valueStart = (match.index ?? 0) + match[0].length - match[1].length;
  const next = proposedLearningRate(ctx.options.learningRate, ctx.options.optimizer, direction);
  const code = direction === 'lower' ? 'lower-learning-rate' : 'raise-learning-rate';
  return {
    code,
    title: `${direction === 'lower' ? 'Lower' : 'Raise'} the learning rate to ${next} (learning_rate= in the .py)`,
    edits: [source.replace(valueStart, valueStart + match[1].length, String(next))],
  };
}
