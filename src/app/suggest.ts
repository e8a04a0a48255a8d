/** "Did you mean": the CLI's commands and topics, the tools' topic names. */
/** Edit distance (Damerau–Levenshtein, adjacent swaps count 1): for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known names closest to `word`: those it starts, or ends after a `-` or
 * `.` (`candidates` for `recommendation-candidates`), else those within a third
 * of its length in edits.
 */
export function suggest(word: string, known: readonly string[]): string[] {
  const part = (k: string) => word.length >= 2 && (k.startsWith(word) || (word.length >= 4 && (k.endsWith(`-${word}`) || k.endsWith(`.${word}`))));
  const scored = known
    .map((k) => ({ k, d: part(k) ? 0 : editDistance(word, k) }))
    .filter(({ k, d }) => d <= Math.max(1, Math.floor(Math.max(word.length, k.length) / 3)));
  const best = Math.min(...scored.map((s) => s.d));
  return scored.filter((s) => s.d === best).map((s) => s.k);
}
