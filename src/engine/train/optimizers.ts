import * as tf from '@tensorflow/tfjs';
import type { OptimizerName } from '../../shared/codes';
import type { AdamStepAttrs } from '../kernels/adamUpdateLoop';
import { activeBackendHas, ADAM_UPDATE } from '../kernels/registry';

export { knownOptimizers, parseOptimizerName } from './trainingNames';

export function createOptimizer(name: OptimizerName, learningRate: number): tf.Optimizer {
  switch (name) {
    case 'sgd':
      return tf.train.sgd(learningRate);
    case 'momentum':
      return tf.train.momentum(learningRate, 0.9);
    case 'adam':
      return new FusedAdamOptimizer(learningRate);
    case 'rmsprop':
      return tf.train.rmsprop(learningRate);
    case 'adagrad':
      return tf.train.adagrad(learningRate);
    case 'adadelta':
      return tf.train.adadelta(learningRate);
    case 'adamax':
      return tf.train.adamax(learningRate);
  }
}

/** The parts of TF.js's AdamOptimizer its typings declare private. */
interface AdamOptimizerState {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Array<{ originalName: string; variable: tf.Variable } | undefined>;
  accumulatedSecondMoment: Array<{ originalName: string; variable: tf.Variable } | undefined>;
}

/**
 * `tf.train.adam` with each variable's step as one kernel (the project's ADAM_UPDATE) where the
 * backend has it, instead of 12 ops per variable. Everything else is TF.js's AdamOptimizer:
 * class name 'Adam', defaults (β₁ 0.9, β₂ 0.999, ε the backend's 1e-7, as Keras), state and
 * its order, getWeights/setWeights, and its bias correction through the accBeta variables.
 */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999) {
    super(learningRate, beta1, beta2);
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    if (!activeBackendHas(ADAM_UPDATE)) {
      super.applyGradients(variableGradients);
      return;
    }
    const state = this as unknown as AdamOptimizerState;
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    // Read from the float32 variables the stock optimizer keeps, so both round βᵗ alike.
    const attrs: AdamStepAttrs = {
      learningRate: this.learningRate,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      firstMomentCorrection: 1 - state.accBeta1.dataSync()[0],
      secondMomentCorrection: 1 - state.accBeta2.dataSync()[0],
    };
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        state.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        state.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        const gradient = Array.isArray(variableGradients) ? variableGradients[i].tensor : variableGradients[name];
        if (gradient == null) return;
        const firstMoment = state.accumulatedFirstMoment[i]!.variable;
        const secondMoment = state.accumulatedSecondMoment[i]!.variable;
        const inputs = { value, firstMoment, secondMoment, gradient };
        const [newValue, newFirstMoment, newSecondMoment] = tf.engine().runKernel(ADAM_UPDATE, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        firstMoment.assign(newFirstMoment);
        secondMoment.assign(newSecondMoment);
        value.assign(newValue);
      });
      state.accBeta1.assign(tf.mul(state.accBeta1, this.beta1));
      state.accBeta2.assign(tf.mul(state.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
}
