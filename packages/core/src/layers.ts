/**
 * A recordable layer: a Conv node's output as the network uses it (the output of the activation
 * that directly follows the Conv, if any). Its activations are NCHW, as every ONNX Conv output is.
 */
export interface LayerInfo {
  /** ONNX tensor name of the recorded output: the `layer` column of every table. */
  readonly layer: string;
  /** Depth index, 0 for the Conv nearest the input (topological order): the `layer_index` column. */
  readonly layerIndex: number;
  /** Name of the Conv node whose output this is (or whose activation's output). */
  readonly convNode: string;
  /** Op type of the recorded node: `Conv`, or the activation that follows it (`Relu`, `Clip`, ...). */
  readonly op: string;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** Number of spatial units per channel. */
export function unitsPerChannel(l: Pick<LayerInfo, 'height' | 'width'>): number {
  return l.height * l.width;
}
