/**
 * Module paths of a PyTorch export: which `nn.Module` (`features.12`, `layer4.1.conv1`) produced each tensor, so
 * that `--layers layer4.1` can name a block. Exporters say it in three places, all read here:
 *
 * - the TorchScript exporter (`dynamo=False`) names nodes by scope: `/layer4/layer4.1/conv1/Conv`;
 * - the dynamo exporter (`dynamo=True`, the default since PyTorch 2.9) names nodes `node_Conv_78` and tensors
 *   `getitem_9`, and keeps the scopes in node metadata (`pkg.torch.onnx.name_scopes`: `['', 'layer4', 'layer4.1',
 *   'layer4.1.bn2', '_native_batch_norm_legit_no_training_3']`, the last entry being the op itself; `namespace`
 *   says the same as `: Net/layer4: Sequential/layer4.1: Block/...`);
 * - both name weights by their module: `layer4.1.conv1.weight`.
 *
 * NodeProto.metadata_props is newer than onnx-proto's schema (protobufjs drops it), so it is read from the wire.
 */
import type { GraphView } from './onnx-graph.js';
import { wireFields } from './wire.js';

const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const NODE_OUTPUT = 2;
const NODE_METADATA_PROPS = 9;
const NAME_SCOPES_KEY = 'pkg.torch.onnx.name_scopes';
const NAMESPACE_KEY = 'namespace';

const decoder = new TextDecoder();

/** Node metadata (key -> value), by the node's first output name, read from the wire format. */
function nodeMetadata(bytes: Uint8Array): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const model of wireFields(bytes)) {
    if (model.field !== MODEL_GRAPH || !model.payload) continue;
    for (const graph of wireFields(model.payload)) {
      if (graph.field !== GRAPH_NODE || !graph.payload) continue;
      let output: string | null = null;
      const props = new Map<string, string>();
      for (const f of wireFields(graph.payload)) {
        if (f.field === NODE_OUTPUT && f.payload && output === null) output = decoder.decode(f.payload);
        else if (f.field === NODE_METADATA_PROPS && f.payload) {
          let key = '';
          let value = '';
          for (const e of wireFields(f.payload)) {
            if (e.field === 1 && e.payload) key = decoder.decode(e.payload);
            else if (e.field === 2 && e.payload) value = decoder.decode(e.payload);
          }
          props.set(key, value);
        }
      }
      if (output !== null && props.size > 0) out.set(output, props);
    }
  }
  return out;
}

/** The quoted strings of a Python list repr: `['', 'layer4', "it's"]` -> ['', 'layer4', "it's"]. */
function pythonStrings(repr: string): string[] {
  return [...repr.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)].map((m) =>
    (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1'),
  );
}

/** Module paths from dynamo metadata: name_scopes without the root and the op, or namespace's segment names. */
function metadataPaths(props: ReadonlyMap<string, string>): string[] {
  const scopes = props.get(NAME_SCOPES_KEY);
  if (scopes !== undefined)
    return pythonStrings(scopes)
      .slice(0, -1)
      .filter((s) => s !== '');
  const namespace = props.get(NAMESPACE_KEY);
  if (namespace === undefined) return [];
  return namespace
    .split('/')
    .slice(0, -1)
    .map((segment) => segment.split(':')[0]!.trim())
    .filter((s) => s !== '');
}

/**
 * Full dotted module paths from a TorchScript-style node name: `/features/features.12/squeeze/Conv` ->
 * features, features.12, features.12.squeeze (a component that does not already start with its parent's path is
 * relative to it). Names that do not start with '/' give none.
 */
export function scopedNamePaths(nodeName: string): string[] {
  if (!nodeName.startsWith('/')) return [];
  const components = nodeName.split('/').filter((c) => c !== '');
  const paths: string[] = [];
  let current = '';
  for (const component of components.slice(0, -1)) {
    current = current === '' || component.startsWith(`${current}.`) ? component : `${current}.${component}`;
    paths.push(current);
  }
  return paths;
}

/** A dotted path and its ancestors: layer4.1.conv1 -> layer4, layer4.1, layer4.1.conv1. */
function withAncestors(path: string): string[] {
  const parts = path.split('.');
  return parts.map((_, i) => parts.slice(0, i + 1).join('.'));
}

/**
 * The other names of every node output and every node: the producing node's name and the module paths it belongs
 * to (ancestors included), from scoped node names, dynamo metadata and the `.weight` / `.bias` initializers it
 * reads. Keys are tensor names and node names; `selectLayers` matches layer specs against these too.
 */
export function layerAliases(model: {
  bytes: Uint8Array;
  graph: Pick<GraphView, 'nodes' | 'initializers'>;
}): Map<string, string[]> {
  const metadata = nodeMetadata(model.bytes);
  const aliases = new Map<string, string[]>();
  for (const node of model.graph.nodes) {
    const paths = new Set<string>();
    const add = (path: string) => {
      for (const p of withAncestors(path)) paths.add(p);
    };
    for (const p of scopedNamePaths(node.name)) add(p);
    const props = metadata.get(node.outputs[0] ?? '');
    if (props) for (const p of metadataPaths(props)) add(p);
    for (const input of node.inputs) {
      const param = /^(.+)\.(weight|bias)$/.exec(input);
      if (param && model.graph.initializers.has(input)) add(param[1]!);
    }
    const names = [...(node.name ? [node.name] : []), ...paths];
    for (const key of [node.name, ...node.outputs]) {
      if (key === '') continue;
      aliases.set(key, [...new Set([...(aliases.get(key) ?? []), ...names])]);
    }
  }
  return aliases;
}
