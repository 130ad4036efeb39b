import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

/**
 * The folders of src/ from the bottom up (docs/architecture.md). A folder may import from its own
 * layer and the ones below; an import that runs upward couples a lower concept to a higher one.
 */
const LAYERS: string[][] = [
  ['backend', 'random'],
  ['datasets'],
  ['paths'],
  ['models'],
  ['losses'],
  ['solvers'],
  ['metrics'],
  ['config'],
  ['core'],
  ['results'],
  ['training'],
  ['report'],
  ['tasks'],
  ['runner'],
  ['bench'],
  ['cli'],
  ['reproduce'],
  ['commands'],
];

const SRC = path.join(__dirname, '..', '..', 'src');

function layerOf(folder: string): number {
  const layer = LAYERS.findIndex((names) => names.includes(folder));
  if (layer < 0) throw new Error(`src/${folder} has no layer in test/layers.test.ts (and docs/architecture.md)`);
  return layer;
}

/** [importing file, imported file] for every relative import of a .ts file under src/. */
function imports(): Array<[string, string]> {
  const edges: Array<[string, string]> = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts')) {
        for (const match of fs.readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
          edges.push([path.relative(SRC, file), path.relative(SRC, path.resolve(dir, match[1]))]);
        }
      }
    }
  };
  walk(SRC);
  return edges;
}

describe('layers', () => {
  it('no folder of src/ imports from a layer above its own', () => {
    const edges = imports();
    assert.ok(edges.length > 100, `found only ${edges.length} imports: is SRC right?`);
    const upward = edges
      .filter(([from, to]) => layerOf(from.split(path.sep)[0]) < layerOf(to.split(path.sep)[0]))
      .map(([from, to]) => `${from} -> ${to}`);
    assert.deepEqual(upward, []);
  });

  it('every folder of src/ has a layer', () => {
    const folders = fs.readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    for (const folder of folders) layerOf(folder);
  });
});
