// Just enough of the ONNX protobuf format (onnx/onnx.proto, ir_version 8, opset 13) to write the
// small models the onnxruntime tests run: tensors, value infos, nodes, one graph.  Field numbers
// are the .proto's; initializers go in raw_data (little-endian).  No onnx tooling is needed, and
// the tests know exactly what each model computes.

/** Protobuf wire types. */
const VARINT = 0;
const LENGTH_DELIMITED = 2;

/** ONNX TensorProto.DataType values. */
export const OnnxType = { float32: 1, int32: 6, int64: 7 } as const;
export type OnnxTypeName = keyof typeof OnnxType;

class Writer {
  private bytes: number[] = [];

  varint(value: number): void {
    // Non-negative integers up to 2^53 (dims, enums, lengths): 7 bits per byte, low bits first.
    let v = value;
    while (v >= 0x80) {
      this.bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
  }

  key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, value: number): void {
    this.key(field, VARINT);
    this.varint(value);
  }

  bytesField(field: number, payload: Uint8Array): void {
    this.key(field, LENGTH_DELIMITED);
    this.varint(payload.length);
    for (const b of payload) this.bytes.push(b);
  }

  string(field: number, text: string): void {
    this.bytesField(field, new TextEncoder().encode(text));
  }

  message(field: number, build: (w: Writer) => void): void {
    const inner = new Writer();
    build(inner);
    this.bytesField(field, inner.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  data: Float32Array | Int32Array;
}

export interface OnnxValue {
  name: string;
  type: OnnxTypeName;
  /** A number is a fixed size; a string a symbolic dimension (e.g. 'batch'). */
  dims: (number | string)[];
}

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Integer attributes (e.g. Gemm's transB). */
  intAttributes?: Record<string, number>;
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
}

function writeTensor(w: Writer, t: OnnxInitializer): void {
  for (const d of t.dims) w.int(1, d); // dims
  w.int(2, t.data instanceof Float32Array ? OnnxType.float32 : OnnxType.int32); // data_type
  w.string(8, t.name); // name
  w.bytesField(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)); // raw_data (x86 and arm64: little-endian)
}

function writeValueInfo(w: Writer, v: OnnxValue): void {
  w.string(1, v.name); // name
  w.message(2, (type) => // TypeProto
    type.message(1, (tensor) => { // tensor_type
      tensor.int(1, OnnxType[v.type]); // elem_type
      tensor.message(2, (shape) => { // TensorShapeProto
        for (const d of v.dims) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d))); // dim_value | dim_param
        }
      });
    }),
  );
}

function writeNode(w: Writer, node: OnnxNode, index: number): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, `${node.op}_${index}`); // name
  w.string(4, node.op); // op_type
  for (const [name, value] of Object.entries(node.intAttributes ?? {})) {
    w.message(5, (a) => {
      a.string(1, name);
      a.int(3, value); // i
      a.int(20, 2); // type INT
    });
  }
}

/** A serialized ModelProto (ir_version 8, default domain opset 13) for InferenceSession.create(). */
export function onnxModel(graph: OnnxGraph): Uint8Array {
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.string(2, 'fusedloss-tests'); // producer_name
  w.message(7, (g) => { // graph
    graph.nodes.forEach((node, i) => g.message(1, (n) => writeNode(n, node, i)));
    g.string(2, 'graph');
    for (const t of graph.initializers) g.message(5, (m) => writeTensor(m, t));
    for (const v of graph.inputs) g.message(11, (m) => writeValueInfo(m, v));
    for (const v of graph.outputs) g.message(12, (m) => writeValueInfo(m, v));
  });
  w.message(8, (o) => { // opset_import
    o.string(1, '');
    o.int(2, 13);
  });
  return w.finish();
}
