import type { Dataset, LoadProgress } from './dataset';
import { FASHION_MNIST_NAME, fitsFashionMnist, loadFashionMnist } from './fashionMnist';
import { SYNTHETIC_NAME, syntheticDataset } from './synthetic';
import { loadUserData } from './userData';

export const AUTO_DATA = 'auto';

/**
 * The training data for a model with this input shape (without batch) and class count.
 * `spec`: 'auto' (the bundled Fashion-MNIST subset where the model fits it, else synthetic),
 * 'synthetic', 'fashion-mnist', or a path to IDX / .npy data or a folder of class image folders. Throws InputError on bad data.
 */
export async function loadDataset(spec: string, inputShape: number[], numClasses: number, seed: number, onProgress?: LoadProgress): Promise<Dataset> {
  switch (spec) {
    case AUTO_DATA:
      return fitsFashionMnist(inputShape, numClasses) ? loadFashionMnist(inputShape, numClasses) : syntheticDataset(inputShape, numClasses, seed);
    case SYNTHETIC_NAME:
      return syntheticDataset(inputShape, numClasses, seed);
    case FASHION_MNIST_NAME:
      return loadFashionMnist(inputShape, numClasses);
    default:
      return loadUserData(spec, inputShape, numClasses, seed, onProgress);
  }
}
