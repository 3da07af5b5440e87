// Builds TF.js models with reproducible weights and writes them as a TF.js layers model
// (model.json + weights.bin), as `model.save('file://…')` would with tfjs-node. Used by
// make-samples.mjs and make-fixtures.mjs.
import * as tf from '@tensorflow/tfjs';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A TF.js model from a Keras config, every unseeded initializer given its own seed so the
 * weights (and the files written from them) are the same on every run.
 */
export async function seededTfjsModel(kerasModel, baseSeed) {
  const copy = structuredClone(kerasModel);
  let seed = baseSeed;
  for (const layer of copy.config.layers) {
    for (const [key, value] of Object.entries(layer.config)) {
      if (key.endsWith('_initializer') && value?.config && 'seed' in value.config) value.config.seed = seed++;
    }
  }
  return await tf.models.modelFromJSON(copy);
}

const TFJS_OPTIMIZERS = { SGD: (lr) => tf.train.sgd(lr), Adam: (lr) => tf.train.adam(lr) };
const TFJS_LOSSES = { categorical_crossentropy: 'categoricalCrossentropy' };

/** What TF.js itself writes as `trainingConfig` for a model compiled with these settings. */
function tfjsTrainingConfig(model, training) {
  model.compile({ optimizer: TFJS_OPTIMIZERS[training.optimizer](training.learningRate), loss: TFJS_LOSSES[training.loss], metrics: ['acc'] });
  return model.getTrainingConfig();
}

/** Writes model.json and weights.bin into `dir`; returns the model.json object. */
export async function saveTfjsModel(model, dir, training) {
  let saved;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const weightData = Array.isArray(saved.weightData) ? Buffer.concat(saved.weightData.map((b) => Buffer.from(b))) : Buffer.from(saved.weightData);
  const modelJson = {
    format: saved.format,
    generatedBy: saved.generatedBy,
    convertedBy: saved.convertedBy,
    modelTopology: saved.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: saved.weightSpecs }],
  };
  if (training) modelJson.trainingConfig = tfjsTrainingConfig(model, training);
  writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson, null, 2) + '\n');
  writeFileSync(path.join(dir, 'weights.bin'), weightData);
  return modelJson;
}
