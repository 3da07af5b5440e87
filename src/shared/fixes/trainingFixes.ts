import type { Node } from 'jsonc-parser';
import type { OptimizerName } from '../codes';
import { DEFAULT_LEARNING_RATE } from '../runOptions';
import { formatRate, roundRate } from '../lrRange';
import type { FixContext } from '../diagnosis';
import type { Fix } from '../findings';
import { locateTrainingConfig, type TrainingConfigLocation } from '../locator';
import type { Range } from '../textRange';
import { nodeSpanning, ModelTree } from './modelTree';
import { learningRateKey, optimizerObject, trainingConfigEntry } from './serialize';
import { EditBuilder, inferStyle } from './textEdits';

/** Edits to the training config, wherever the file keeps it (or a new one where it keeps none). */
class TrainingPlan {
  readonly edits: EditBuilder;
  readonly location: TrainingConfigLocation;
  private readonly root: Node;

  constructor(readonly ctx: FixContext) {
    this.edits = new EditBuilder(ctx.text, inferStyle(ctx.text));
    this.location = locateTrainingConfig(ctx.text);
    this.root = new ModelTree(ctx.text, ctx.format).root;
  }

  node(range: Range | undefined): Node | undefined {
    return range ? nodeSpanning(this.root, this.edits.offset(range.start), this.edits.offset(range.end)) : undefined;
  }

  /** The optimizer's own settings object, when the file has one to add a key to. */
  optimizerSettings(): Node | undefined {
    const node = this.node(this.location.optimizerConfigRange);
    return node?.type === 'object' ? node : undefined;
  }

  /** A training config in the file's format with this optimizer, placed beside the model config. */
  addTrainingConfig(optimizer: OptimizerName, learningRate: number, optimizerExtra: Record<string, unknown> = {}): boolean {
    const entry = trainingConfigEntry(optimizer, learningRate, this.ctx.options.loss, this.ctx.format, optimizerExtra);
    const existing = this.node(this.location.range);
    if (existing?.type === 'object') {
      // A training config without an optimizer (e.g. only a loss): give it one.
      this.edits.setProperty(existing, this.ctx.format === 'keras3' ? 'optimizer' : 'optimizer_config', optimizerObject(optimizer, learningRate, this.ctx.format, optimizerExtra));
      return true;
    }
    const holder = this.location.insertAfter && this.containerAt(this.edits.offset(this.location.insertAfter));
    if (!holder) return false;
    this.edits.setProperty(holder, entry.key, entry.value);
    return true;
  }

  /** The object whose last property ends at `offset` (where the locator says a training config belongs). */
  private containerAt(offset: number): Node | undefined {
    const visit = (node: Node): Node | undefined => {
      if (node.type === 'object') {
        const last = node.children?.[node.children.length - 1];
        if (last && last.offset + last.length === offset) return node;
      }
      for (const c of node.children ?? []) {
        if (c.offset <= offset && c.offset + c.length >= offset) {
          const found = visit(c);
          if (found) return found;
        }
      }
      return undefined;
    };
    return visit(this.root);
  }

  setLearningRate(value: number): boolean {
    const rate = this.node(this.location.learningRateRange);
    if (rate) {
      this.edits.replaceNode(rate, value);
      return true;
    }
    const settings = this.optimizerSettings();
    if (settings) {
      this.edits.setProperty(settings, learningRateKey(this.ctx.format), value);
      return true;
    }
    return this.addTrainingConfig(this.currentOptimizer(), value);
  }

  currentOptimizer(): OptimizerName {
    return this.ctx.options.optimizer;
  }

  fix(code: Fix['code'], title: string): Fix | undefined {
    return this.edits.edits.length > 0 ? { code, title, edits: this.edits.edits } : undefined;
  }
}

/**
 * The learning rate a fix proposes: a factor of 10 toward the optimizer's Keras default, or the
 * default itself when the rate is more than 10× off it (a 1e-6 Adam rate raised only to 1e-5
 * still would not train). Rounded to one significant digit so the file reads well.
 */
export function proposedLearningRate(current: number, optimizer: OptimizerName, direction: 'lower' | 'raise'): number {
  const standard = DEFAULT_LEARNING_RATE[optimizer];
  if (direction === 'raise' && current * 10 < standard) return standard;
  if (direction === 'lower' && current / 10 > standard) return standard;
  return Number((current * (direction === 'lower' ? 0.1 : 10)).toPrecision(1));
}

/**
 * The rate a learning-rate fix writes, and its title. With a range test whose suggestion lies in
 * the fix's direction, the measured suggestion (rounded to 1, 1.5, 2, 2.5, 3, … × a power of 10);
 * otherwise the factor-of-10 guess of `proposedLearningRate`. Shared by the Keras/TF.js and the
 * Python planners.
 */
export function learningRateProposal(ctx: FixContext, direction: 'lower' | 'raise'): { value: number; title: string; measured: boolean } {
  const current = ctx.options.learningRate;
  const verb = direction === 'lower' ? 'Lower' : 'Raise';
  const suggested = ctx.lrRange?.suggestedLr;
  if (suggested !== undefined) {
    const value = roundRate(suggested);
    if (direction === 'lower' ? value < current : value > current) {
      return { value, title: `${verb} the learning rate from ${current} to ${value} (the range test's suggestion)`, measured: true };
    }
  }
  const value = proposedLearningRate(current, ctx.options.optimizer, direction);
  return { value, title: `${verb} the learning rate from ${current} to ${value}`, measured: false };
}

/** What the range test measured of the current optimizer, for the change-optimizer title ("" without one). */
export function rangeTestNote(ctx: FixContext): string {
  const range = ctx.lrRange;
  if (!range) return '';
  if (range.suggestedLr === undefined) return `; the range test under ${range.optimizer} found no rate that trains it (${range.note ?? 'its loss never fell'})`;
  const ratio = ctx.options.learningRate / range.suggestedLr;
  const relation = ratio >= 1 ? `${Number(ratio.toPrecision(2))}× its suggestion` : `1/${Number((1 / ratio).toPrecision(2))} of its suggestion`;
  return `; the range test under ${range.optimizer} suggests ${formatRate(range.suggestedLr)} (the current ${ctx.options.learningRate} is ${relation}), its loss falling ${Math.round(range.relativeFall * 100)} % at best`;
}

export function planLearningRate(ctx: FixContext, direction: 'lower' | 'raise'): Fix {
  const { value: next, title } = learningRateProposal(ctx, direction);
  const code = direction === 'lower' ? 'lower-learning-rate' : 'raise-learning-rate';
  const plan = new TrainingPlan(ctx);
  if (plan.setLearningRate(next)) return plan.fix(code, title)!;
  return { code, title, edits: [], setting: { key: 'gradientLens.learningRate', value: next } };
}

/** Gradient clipping by norm (Keras `clipnorm`) in the optimizer's settings. */
export function planClipGradients(ctx: FixContext): Fix {
  const title = 'Clip gradients to norm 1.0 (clipnorm)';
  const plan = new TrainingPlan(ctx);
  const existing = plan.node(plan.location.clipNormRange);
  const settings = plan.optimizerSettings();
  if (existing) plan.edits.replaceNode(existing, 1.0);
  else if (settings) plan.edits.setProperty(settings, 'clipnorm', 1.0);
  else plan.addTrainingConfig(plan.currentOptimizer(), ctx.options.learningRate, { clipnorm: 1.0 });
  return plan.fix('clip-gradients', title) ?? { code: 'clip-gradients', title, edits: [], setting: { key: 'gradientLens.clipNorm', value: 1.0 } };
}

/** Plain SGD (or a rarely-tuned adaptive optimizer) → Adam at its default rate. */
export function planChangeOptimizer(ctx: FixContext): Fix | undefined {
  const current = ctx.options.optimizer;
  if (current === 'adam' || current === 'adamax') return undefined;
  const title = `Switch the optimizer from ${current} to Adam (learning rate 0.001)${rangeTestNote(ctx)}`;
  const plan = new TrainingPlan(ctx);
  const optimizerNode = plan.node(plan.location.optimizerRange);
  if (optimizerNode) plan.edits.replaceNode(optimizerNode, optimizerObject('adam', 0.001, ctx.format));
  else plan.addTrainingConfig('adam', 0.001);
  return plan.fix('change-optimizer', title) ?? { code: 'change-optimizer', title, edits: [], setting: { key: 'gradientLens.optimizer', value: 'adam' } };
}
