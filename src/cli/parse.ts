/** Splits a comma-separated flag value ("0,0.1,1") into trimmed items. */
export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** "cfm,fdm" -> ['cfm', 'fdm']. */
export function stringList(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : splitList(value);
}

/** A number as typed; anything else becomes NaN and is rejected, with its field, by the schema. */
function toNumber(item: string): number {
  return item === '' ? Number.NaN : Number(item);
}

/** "0.1" -> [0.1]; "0,0.1,1" -> [0, 0.1, 1]. */
export function numberList(value: string | undefined): number[] | undefined {
  return value === undefined ? undefined : splitList(value).map(toNumber);
}

export function numberValue(value: string | undefined): number | undefined {
  return value === undefined ? undefined : toNumber(value.trim());
}

/** `--seeds 3` means three seeds 0, 1, 2; `--seeds 4,7` means exactly seeds 4 and 7. */
export function parseSeeds(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  if (!value.includes(',')) {
    const count = toNumber(value.trim());
    return Number.isInteger(count) && count > 0 ? [...Array(count).keys()] : [count];
  }
  return splitList(value).map(toNumber);
}

/** "true,false" -> [true, false]; any other word is passed on for the schema to reject by name. */
export function booleanList(value: string | undefined): unknown[] | undefined {
  if (value === undefined) return undefined;
  return splitList(value).map((s) => (s === 'true' ? true : s === 'false' ? false : s));
}
