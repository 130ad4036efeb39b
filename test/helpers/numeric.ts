import assert from 'node:assert/strict';

/** Asserts |actual - expected| <= atol + rtol |expected|, with a message naming the quantity. */
export function assertClose(actual: number, expected: number, atol: number, rtol: number, what: string): void {
  const bound = atol + rtol * Math.abs(expected);
  assert.ok(
    Math.abs(actual - expected) <= bound,
    `${what}: got ${actual}, expected ${expected} (|diff| ${Math.abs(actual - expected).toExponential(2)} > ${bound.toExponential(2)})`,
  );
}

/** Element-wise assertClose over two arrays of equal length. */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) assertClose(actual[i], expected[i], atol, rtol, `${what}[${i}]`);
}
