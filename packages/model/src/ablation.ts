/**
 * Channel ablation by graph editing: a per-channel mask multiplied into a layer's output, fed as a graph input,
 * so that one onnxruntime session serves every ablation of every layer (batch rows = ablation variants).
 *
 * For a recorded tensor T with C channels the edit adds the input `ns_mask_<i>` [batch, C, 1, 1] and the node
 * `T' = T * mask`, and rewires every node that consumed T to consume T'. With `fill`, it also adds the input
 * `ns_fill_<i>` [1, C, 1, 1] and computes `T' = T * mask + fill * (1 - mask)`: a channel whose mask is 0 is then
 * replaced by its fill value (e.g. the channel's mean activation over the copies) instead of by zero.
 *
 * Rewiring node inputs needs a full decode and re-encode of the model (protobufjs), so this takes the ORIGINAL
 * model bytes, never bytes from {@link withExtraOutputs} (protobufjs would keep only the appended fragment).
 * The result may itself be passed to `withExtraOutputs` (e.g. to read tensors downstream of a mask).
 */
import { UserError } from '@neuronscope/core';
import type onnxProto from 'onnx-proto';
import { ONNX_FLOAT, onnx } from './onnx-graph.js';

/** A tensor to mask: a 4-D NCHW feature map and its channel count. */
export interface MaskTarget {
  readonly tensor: string;
  readonly channels: number;
}

/** One masked tensor of an edited model: which graph inputs control it. */
export interface ChannelMask extends MaskTarget {
  /** Graph input [batch, C, 1, 1]: 1 keeps a channel, 0 ablates it (any other value scales it). */
  readonly maskInput: string;
  /** Graph input [1, C, 1, 1] of the values ablated channels take, or null (they become 0). */
  readonly fillInput: string | null;
  /** The new tensor T' that the former consumers of T now read. */
  readonly maskedTensor: string;
}

/** A model edited by {@link withChannelMasks}. */
export interface MaskedModel {
  readonly bytes: Uint8Array;
  /** One entry per target, in the order given. */
  readonly masks: readonly ChannelMask[];
}

/** Options of {@link withChannelMasks}. */
export interface ChannelMaskOptions {
  /** Add the `ns_fill_<i>` inputs: ablated channels take the fed values instead of 0 (mean ablation). */
  readonly fill?: boolean;
  /** Mask batch dim: a fixed size (for a model with a fixed batch), or symbolic (the default). */
  readonly batch?: number | null;
}

/** Symbolic batch dim of the mask inputs. */
const MASK_BATCH = 'ns_batch';

function maskValueInfo(name: string, channels: number, batch: number | null): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_FLOAT,
        shape: {
          dim: [
            batch === null ? { dimParam: MASK_BATCH } : { dimValue: batch },
            { dimValue: channels },
            { dimValue: 1 },
            { dimValue: 1 },
          ],
        },
      },
    },
  };
}

/**
 * Decodes model bytes with protobufjs, refusing bytes that carry an appended graph fragment (from
 * {@link withExtraOutputs}), which protobufjs cannot merge.
 */
export function decodeModel(bytes: Uint8Array, what = 'model'): onnxProto.onnx.ModelProto {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new UserError(`${what} is not a valid ONNX model: ${(err as Error).message}`);
  }
  if (!model.graph || (model.graph.node ?? []).length === 0) {
    throw new UserError(
      `${what} has no graph nodes as protobufjs decodes it (pass the original model bytes, not bytes with appended outputs)`,
    );
  }
  return model;
}

/** Names of every tensor the graph defines or refers to (to keep new names unique). */
function usedNames(graph: onnxProto.onnx.IGraphProto): Set<string> {
  const names = new Set<string>();
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) {
    if (v.name) names.add(v.name);
  }
  for (const t of graph.initializer ?? []) if (t.name) names.add(t.name);
  for (const n of graph.node ?? []) {
    for (const s of [...(n.input ?? []), ...(n.output ?? [])]) if (s) names.add(s);
    if (n.name) names.add(n.name);
  }
  return names;
}

/**
 * Model bytes in which each target tensor passes through a per-channel mask fed as a graph input (see the
 * module comment). The graph's own inputs and outputs are unchanged, so with every mask all ones the model
 * computes exactly what it did (a multiplication by 1.0 is exact in IEEE arithmetic). A target that no node
 * produces, a repeated target, or a non-positive channel count is a {@link UserError}.
 */
export function withChannelMasks(
  bytes: Uint8Array,
  targets: readonly MaskTarget[],
  opts: ChannelMaskOptions = {},
): MaskedModel {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const nodes = [...(graph.node ?? [])];
  const names = usedNames(graph);
  const fresh = (base: string) => {
    let name = base;
    for (let k = 1; names.has(name); k++) name = `${base}_${k}`;
    names.add(name);
    return name;
  };
  const batch = opts.batch ?? null;
  const seen = new Set<string>();
  let one: string | null = null;
  const masks: ChannelMask[] = [];
  const insertions = new Map<number, onnxProto.onnx.INodeProto[]>();

  targets.forEach((target, i) => {
    if (seen.has(target.tensor)) throw new UserError(`layer '${target.tensor}' is masked twice`);
    seen.add(target.tensor);
    if (!Number.isInteger(target.channels) || target.channels <= 0) {
      throw new UserError(`layer '${target.tensor}': invalid channel count ${target.channels}`);
    }
    const producer = nodes.findIndex((n) => (n.output ?? []).includes(target.tensor));
    if (producer < 0) throw new UserError(`no node of the model produces tensor '${target.tensor}'`);
    const maskInput = fresh(`ns_mask_${i}`);
    const fillInput = opts.fill ? fresh(`ns_fill_${i}`) : null;
    const maskedTensor = fresh(`${target.tensor}/ns_masked`);
    graph.input = [...(graph.input ?? []), maskValueInfo(maskInput, target.channels, batch)];
    const added: onnxProto.onnx.INodeProto[] = [];
    if (fillInput === null) {
      added.push({
        opType: 'Mul',
        name: fresh(`ns_mask_mul_${i}`),
        input: [target.tensor, maskInput],
        output: [maskedTensor],
      });
    } else {
      graph.input = [...graph.input, maskValueInfo(fillInput, target.channels, 1)];
      if (one === null) {
        one = fresh('ns_one');
        graph.initializer = [
          ...(graph.initializer ?? []),
          { name: one, dataType: ONNX_FLOAT, dims: [], floatData: [1] },
        ];
      }
      const kept = fresh(`${target.tensor}/ns_kept`);
      const inverse = fresh(`ns_inverse_mask_${i}`);
      const filled = fresh(`${target.tensor}/ns_filled`);
      added.push(
        { opType: 'Mul', name: fresh(`ns_mask_mul_${i}`), input: [target.tensor, maskInput], output: [kept] },
        { opType: 'Sub', name: fresh(`ns_mask_sub_${i}`), input: [one, maskInput], output: [inverse] },
        { opType: 'Mul', name: fresh(`ns_fill_mul_${i}`), input: [fillInput, inverse], output: [filled] },
        { opType: 'Add', name: fresh(`ns_fill_add_${i}`), input: [kept, filled], output: [maskedTensor] },
      );
    }
    // Every former consumer of T reads T' (the new nodes, which read T itself, are not in `nodes` yet).
    for (const node of nodes) {
      if ((node.input ?? []).includes(target.tensor)) {
        node.input = (node.input ?? []).map((s) => (s === target.tensor ? maskedTensor : s));
      }
    }
    insertions.set(producer, [...(insertions.get(producer) ?? []), ...added]);
    masks.push({ ...target, maskInput, fillInput, maskedTensor });
  });

  // The new nodes go right after the producer of their tensor, keeping the node list topologically sorted.
  graph.node = nodes.flatMap((node, i) => [node, ...(insertions.get(i) ?? [])]);
  return { bytes: onnx.ModelProto.encode(model).finish(), masks };
}
