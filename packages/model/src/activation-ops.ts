/** The element-wise activations layer discovery knows, in a module of their own (layers.ts and receptive-field.ts share them). */

/** Element-wise activations that, directly after a Conv, give the tensor the network actually uses. */
export const ACTIVATION_OPS: ReadonlySet<string> = new Set([
  'Relu',
  'Clip',
  'LeakyRelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'PRelu',
  'Softplus',
  'Mish',
  'Gelu',
]);
