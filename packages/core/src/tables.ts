import {
  type Data,
  Dictionary,
  FixedSizeList,
  List,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';

/** Values of one column, in the form that is cheapest for its type. */
export type ColumnValues =
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | readonly (number | null)[]
  | readonly (string | null)[]
  | readonly (boolean | null)[]
  /** A dictionary column: an index per row into `dictionary`. */
  | { readonly indices: Int32Array; readonly dictionary: readonly string[] }
  /** A variable-length list of float32: row i holds `values[offsets[i]..offsets[i + 1])` (`length + 1` offsets). */
  | { readonly offsets: Int32Array; readonly values: Float32Array };

function columnData(field: Schema['fields'][number], values: ColumnValues, length: number): Data {
  const type = field.type;
  if (type instanceof Dictionary) {
    const { indices, dictionary } = values as { indices: Int32Array; dictionary: string[] };
    return makeData({ type, length, data: indices, dictionary: vectorFromArray(dictionary, new Utf8()) });
  }
  if (type instanceof List && 'offsets' in (values as object)) {
    const { offsets, values: flat } = values as { offsets: Int32Array; values: Float32Array };
    const child = makeData({ type: type.children[0]!.type, length: flat.length, data: flat });
    return makeData({ type, length, valueOffsets: offsets, child });
  }
  if (type instanceof FixedSizeList) {
    const flat = values as Float32Array;
    const child = makeData({ type: type.children[0]!.type, length: flat.length, data: flat });
    return makeData({ type, length, child });
  }
  if (ArrayBuffer.isView(values)) return makeData({ type, length, data: values as Float32Array });
  // Plain arrays: strings, booleans and nullable numbers; small tables only.
  return vectorFromArray(values as unknown[], type).data[0] as Data;
}

/**
 * Builds a one-batch Arrow table of `schema` from column values; `metadata` goes into the schema. Every
 * column must hold `length` rows (a fixed-size-list column holds `length * listSize` values).
 */
export function makeTable(
  schema: Schema,
  columns: Record<string, ColumnValues>,
  length: number,
  metadata?: Record<string, string>,
): Table {
  const withMeta = metadata ? new Schema(schema.fields, new Map(Object.entries(metadata))) : schema;
  // Arrow's IPC writer corrupts a stream whose columns share one buffer: give each column its own.
  const seen = new Set<ArrayBufferLike>();
  const children = withMeta.fields.map((field) => {
    let values = columns[field.name];
    if (values === undefined) throw new Error(`makeTable: column ${field.name} missing`);
    if (ArrayBuffer.isView(values)) {
      if (seen.has(values.buffer)) values = values.slice();
      seen.add(values.buffer);
    }
    return columnData(field, values, length);
  });
  const data = makeData({ type: new Struct(withMeta.fields), length, nullCount: 0, children });
  return new Table(withMeta, [new RecordBatch(withMeta, data)]);
}

/** The values of column `name` as a JS array or typed array; throws a clear error if it is absent. */
export function columnValues<T = unknown>(table: Table, name: string): T[] {
  const column = table.getChild(name);
  if (!column) throw new Error(`table has no column ${name}`);
  return column.toArray() as T[];
}

/** The values of a numeric column as float64. */
export function numericColumn(table: Table, name: string): Float64Array {
  return Float64Array.from(columnValues<number>(table, name));
}

/** A JSON value stored in the schema metadata under `key`, or undefined. */
export function tableMetadata<T>(table: Table, key: string): T | undefined {
  const text = table.schema.metadata.get(key);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}
