import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import wabt from 'wabt';
import { dotRow } from '../../../../src/vectors/math';
import { allocateMatrix, kernelFor, QUERY_BYTES } from '../../../../src/vectors/index/simd';
import { mulberry32 } from '../../../support/random';

describe('the SIMD inner product over a matrix in WebAssembly memory', () => {
  it('runs the bytes simd-dot.wat compiles to', async () => {
    const source = readFileSync(join(__dirname, '../../../../src/vectors/index/simd-dot.wat'), 'utf8');
    const compiled = (await wabt()).parseWat('simd-dot.wat', source, { simd: true });
    compiled.validate();
    const want = Buffer.from(compiled.toBinary({}).buffer).toString('base64');
    expect(readFileSync(join(__dirname, '../../../../src/vectors/index/simd.ts'), 'utf8')).toContain(want);
  });

  it.each([1, 3, 4, 5, 7, 8, 12, 16, 31, 32, 33, 128, 130])('gives 1 − ⟨q, row⟩ for %i dims, as the JavaScript one does', (dims) => {
    const rand = mulberry32(dims);
    const rows = 50;
    const matrix = allocateMatrix(rows * dims);
    for (let i = 0; i < matrix.length; i++) matrix[i] = rand() - 0.5;
    const query = Float32Array.from({ length: dims }, () => rand() - 0.5);
    const kernel = kernelFor(matrix, dims)!;
    kernel.setQuery(query);
    for (let r = 0; r < rows; r++) expect(kernel.distance(r * dims)).toBeCloseTo(1 - dotRow(query, matrix, r * dims, dims), 5);
  });

  it('reads the rows of a subarray where the subarray starts', () => {
    const matrix = allocateMatrix(40);
    matrix.set(Float32Array.from({ length: 40 }, (_, i) => i));
    const tail = matrix.subarray(20);
    const kernel = kernelFor(tail, 4)!;
    kernel.setQuery(Float32Array.of(1, 0, 0, 0));
    expect(kernel.distance(0)).toBe(1 - 20);
    expect(kernel.distance(4)).toBe(1 - 24);
  });

  it('has no kernel for a plain Float32Array or a query wider than its room', () => {
    expect(kernelFor(new Float32Array(40), 4)).toBeUndefined();
    expect(kernelFor(allocateMatrix(40), QUERY_BYTES / 4 + 1)).toBeUndefined();
  });
});
