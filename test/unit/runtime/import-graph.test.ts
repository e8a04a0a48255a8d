/**
 * The runtime is publishable on its own: nothing under src/runtime may import
 * the vectors domain, a topology, the app, the CLI or the native ANN addon,
 * and every package it imports must be one it can declare as a dependency.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { MetricNames } from '../../../src/runtime/metrics/names';

const ROOT = join(__dirname, '..', '..', '..');
const RUNTIME = join(ROOT, 'src', 'runtime');

/** Native approximate-nearest-neighbour addons: the vectors code uses one; a plain topology must not load it. */
const ANN_ADDONS = /^(hnswlib-node|hnswlib|faiss-node|faiss-napi|annoy|usearch|voy-search|vectra)(\/|$)/;

const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
const DEPENDENCIES = new Set(Object.keys(packageJson.dependencies ?? {}));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every module specifier of a source file: static and type-only imports, re-exports, `require()` and `import()`. */
function specifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/** The package a bare specifier names (`@scope/name` or `name`), without its sub-path. */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** What is wrong with one import of `file`, or undefined. */
function problemOf(file: string, spec: string): string | undefined {
  if (ANN_ADDONS.test(spec)) return 'a native ANN addon: the runtime must run a plain topology without it';
  if (spec.startsWith('.') || spec.startsWith('/')) {
    const target = resolve(dirname(file), spec);
    if (target !== RUNTIME && !target.startsWith(RUNTIME + sep)) return `resolves outside src/runtime, to ${relative(ROOT, target)}`;
    return undefined;
  }
  if (spec.startsWith('node:') || builtinModules.includes(spec)) return undefined;
  const pkg = packageOf(spec);
  if (!DEPENDENCIES.has(pkg)) return `package '${pkg}' is not in package.json's dependencies (the published runtime could not load it)`;
  return undefined;
}

function problemsOf(file: string, source: string): string[] {
  return specifiers(source).flatMap((spec) => {
    const problem = problemOf(file, spec);
    return problem ? [`${relative(ROOT, file)} imports '${spec}': ${problem}`] : [];
  });
}

describe('the runtime import graph', () => {
  const files = tsFiles(RUNTIME);

  it('finds the runtime sources', () => {
    // Guards the walk itself: an empty list would pass everything below.
    expect(files.length).toBeGreaterThan(20);
    expect(files.map((f) => relative(RUNTIME, f))).toEqual(expect.arrayContaining([join('runner', 'topology-runner.ts'), 'index.ts']));
  });

  it('stays inside src/runtime, imports no ANN addon and only declared dependencies', () => {
    const problems = files.flatMap((f) => problemsOf(f, readFileSync(f, 'utf8')));
    expect(problems).toEqual([]);
  });

  it.each([
    ['a static import of the domain', `import { ErrorCodes } from '../../errors';`, /imports '..\/..\/errors': resolves outside src\/runtime, to src\/errors/],
    [
      'a type-only import of a topology',
      `import type { CountedEvent } from '../../../topologies/event-counter';`,
      /resolves outside src\/runtime, to topologies/,
    ],
    ['a re-export of the vectors code', `export { HnswIndex } from '../../vectors/index/hnsw-index';`, /resolves outside src\/runtime, to src\/vectors/],
    ['a require of the ANN addon', `const { HierarchicalNSW } = require('hnswlib-node');`, /'hnswlib-node': a native ANN addon/],
    ['a dynamic import of the ANN addon', `async function f() { return import('hnswlib-node'); }`, /'hnswlib-node': a native ANN addon/],
    ['an undeclared package', `import { expect } from '@jest/globals';`, /package '@jest\/globals' is not in package.json's dependencies/],
  ])('names the file and the import for %s', (_what, source, message) => {
    const problems = problemsOf(join(RUNTIME, 'runner', 'example.ts'), source);
    expect(problems).toEqual([expect.stringMatching(message)]);
    expect(problems[0]).toMatch(/^src\/runtime\/runner\/example\.ts imports /);
  });

  it('accepts imports within the runtime, node built-ins and dependencies', () => {
    const source = `import { join } from 'node:path';\nimport { EventEmitter } from 'events';\nimport { Kafka } from 'kafkajs';\nimport { TopologyError } from '../errors';\nimport './kafka/client';`;
    expect(problemsOf(join(RUNTIME, 'runner', 'example.ts'), source)).toEqual([]);
  });
});

describe('the runtime metric names', () => {
  it('all carry the runtime prefix, so they never collide with an application’s own', () => {
    const names = Object.values(MetricNames);
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((n) => !n.startsWith('vectors_runtime_'))).toEqual([]);
  });
});
