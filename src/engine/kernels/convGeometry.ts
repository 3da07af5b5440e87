import * as tf from '@tensorflow/tfjs';

export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

/** NHWC explicit padding with the given top/bottom and left/right amounts. */
export function explicitPadding(top: number, bottom: number, left: number, right: number): ExplicitPadding {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/** The padding TF.js resolved for a convolution ('same', 'valid' or explicit), spelled out. */
export function resolvedPadding(info: tf.backend_util.Conv2DInfo): ExplicitPadding {
  const { top, bottom, left, right } = info.padInfo;
  return explicitPadding(top, bottom, left, right);
}

export function assertChannelsLast(dataFormat: string | undefined, kernelName: string): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`${kernelName}: only NHWC (channels-last) data is supported, got ${dataFormat}`);
  }
}
