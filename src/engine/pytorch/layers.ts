import * as path from 'node:path';
import { OPTIMIZERS, type OptimizerName } from '../../shared/codes';
import type { LayerInfo } from '../../shared/model';
import type { TorchLayer } from '../../shared/pytorchProtocol';
import type { Range } from '../../shared/textRange';

const TOP_OF_FILE: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

function sameFile(a: string | undefined, b: string): boolean {
  return a === undefined || path.resolve(a) === path.resolve(b);
}

/**
 * A module as the rules, the markers and the reports see a layer: its qualified name, the call
 * that constructed it, and the activation applied to its output (which the trainer attaches to
 * the weighted module, as Keras has `activation=` on the layer).
 */
export function layerInfoFromTorch(layer: TorchLayer, modelPath: string): LayerInfo {
  const site = layer.site;
  const info: LayerInfo = {
    name: layer.name,
    className: layer.className,
    range: site?.range ?? TOP_OF_FILE,
    paramCount: layer.paramCount,
    instrumented: layer.instrumented,
    channelsFirst: true,
  };
  if (layer.outputShape) info.outputShape = layer.outputShape;
  if (site && !sameFile(site.file, modelPath)) info.file = path.resolve(site.file);
  if (layer.activation) info.activation = layer.activation;
  // LayerInfo's ranges point into the layer's own file; an activation called elsewhere is not one of them.
  if (layer.activationRange && sameFile(layer.activationFile ?? site?.file, info.file ?? modelPath)) info.activationRange = layer.activationRange;
  const related = (layer.instantiatedAt ?? []).map((where) => {
    const entry: NonNullable<LayerInfo['related']>[number] = {
      range: where.range,
      message: `'${layer.name}' is built inside ${where.className} '${where.qualifiedName}', instantiated here`,
    };
    if (!sameFile(where.file, modelPath)) entry.file = path.resolve(where.file);
    return entry;
  });
  if (related.length > 0) info.related = related;
  return info;
}

/** The trainer names the optimizer as torch does (`Adam`, `SGD`, `AdamW`); the fix planners and the rules know the engine's names. */
export function optimizerNameFromTorch(name: string, momentum?: boolean): OptimizerName {
  const lower = name.toLowerCase();
  if (lower === 'sgd') return momentum ? 'momentum' : 'sgd';
  if (lower === 'adamw') return 'adam';
  return (OPTIMIZERS as readonly string[]).includes(lower) ? (lower as OptimizerName) : 'adam';
}
