/**
 * Snapshot matrices in WebAssembly memory, so that a search can take the inner
 * product of a query and a row with SIMD instructions.
 *
 * An HNSW search reads rows from random places in the matrix. In JavaScript
 * such a read of 128 floats costs ~335 ns on the benchmark machine (every
 * float widened to a double, and few cache misses in flight at once); the
 * WebAssembly kernel below (`simd-dot.wat`, four float32 lanes at a time)
 * takes ~137 ns (docs/BENCHMARKS.md, "ANN index"). WebAssembly reads only its
 * own memory, so the matrix must live there from the start: a copy would hold
 * the vectors twice, which is what HnswIndex stopped doing.
 *
 * Each matrix gets a memory of its own: the query's room first
 * (QUERY_BYTES), then the rows. A matrix that cannot have one (over the 4 GiB
 * of a 32-bit memory, or an engine without WebAssembly SIMD) is a plain
 * Float32Array, and searches fall back to JavaScript.
 */

/** The part of the WebAssembly API used here (this project's TypeScript libraries do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface Wasm {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: { e: { m: WasmMemory } }) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}
const WebAssembly = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

/** `simd-dot.wat` compiled (wabt 1.0.37, `simd: true`). */
const DOT_WASM = Buffer.from(
  'AGFzbQEAAAABCAFgA39/fwF9AggBAWUBbQIAAQMCAQAHBwEDZG90AAAK3gEB2wEDAnsCfwF9IAJBYHEhBgJAA0AgBSAGTw0BIAMgACAFav0ABAAgASAFav0ABAD95gH95AEhAyAEIAAgBWr9AAQQIAEgBWr9AAQQ/eYB/eQBIQQgBUEgaiEFDAALCyAFQRBqIAJNBEAgAyAAIAVq/QAEACABIAVq/QAEAP3mAf3kASEDIAVBEGohBQsgAyAE/eQBIQMgA/0fACAD/R8BkiAD/R8CIAP9HwOSkiEHAkADQCAFIAJPDQEgByAAIAVqKgIAIAEgBWoqAgCUkiEHIAVBBGohBQwACwsgBws=',
  'base64',
);

/** Room for the query before the rows: queries of up to 16,384 dims. */
export const QUERY_BYTES = 64 * 1024;
const PAGE = 64 * 1024;
/** A 32-bit memory's limit, 65,536 pages of 64 KiB. */
const MAX_PAGES = 65_536;

let compiled: object | null | undefined;

/** The compiled kernel, or null where this engine cannot run it. */
function dotModule(): object | null {
  if (compiled === undefined) compiled = WebAssembly.validate(DOT_WASM) ? new WebAssembly.Module(DOT_WASM) : null;
  return compiled;
}

/** An inner-product kernel bound to one matrix's memory. */
export interface DotKernel {
  /** Copies `query` into the memory's query room; {@link distance} uses it until the next call. */
  setQuery(query: Float32Array): void;
  /** 1 − ⟨query, row⟩ for the row starting at float `offset` of the matrix, computed in float32. */
  distance(offset: number): number;
}

interface MatrixMemory {
  memory: WasmMemory;
  dot: ((q: number, row: number, bytes: number) => number) | undefined;
}

/** Memories of the matrices allocated here, by their buffer. */
const memories = new WeakMap<ArrayBufferLike, MatrixMemory>();

/**
 * A zeroed Float32Array of `length` floats, in a WebAssembly memory of its
 * own when it fits one, the engine runs the kernel and can reserve the
 * memory, else a plain one.
 * @throws RangeError when even a plain array cannot be allocated.
 */
export function allocateMatrix(length: number): Float32Array {
  const pages = Math.ceil((QUERY_BYTES + 4 * length) / PAGE);
  if (dotModule() === null || pages > MAX_PAGES) return new Float32Array(length);
  let memory: WasmMemory;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  } catch {
    // The engine could not reserve a memory (address space, its limits): plain floats, JavaScript searches.
    return new Float32Array(length);
  }
  memories.set(memory.buffer, { memory, dot: undefined });
  return new Float32Array(memory.buffer, QUERY_BYTES, length);
}

/**
 * The kernel over `matrix` (a view from {@link allocateMatrix}, or a
 * subarray of one) for queries of `dims` floats; undefined when the matrix
 * is a plain array or the query does not fit its room.
 */
export function kernelFor(matrix: Float32Array, dims: number): DotKernel | undefined {
  const held = memories.get(matrix.buffer);
  if (held === undefined || 4 * dims > QUERY_BYTES) return undefined;
  const dot = (held.dot ??= new WebAssembly.Instance(dotModule()!, { e: { m: held.memory } }).exports.dot as MatrixMemory['dot'])!;
  const query = new Float32Array(held.memory.buffer, 0, dims);
  const base = matrix.byteOffset;
  const bytes = 4 * dims;
  return {
    setQuery: (q) => query.set(q),
    distance: (offset) => 1 - dot(0, base + 4 * offset, bytes),
  };
}
