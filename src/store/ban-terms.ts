import type { BanTerms } from "../rooms/ports";

/**
 * Refuses an end that is not a whole number of ms: SQLite would store NaN as NULL (a ban that
 * never ends) where PostgreSQL fails, and a fraction would round differently on each.
 */
export function checkedTerms(terms: BanTerms, now: number): BanTerms {
  if (terms.until !== undefined && !Number.isSafeInteger(terms.until)) throw new RangeError(`a ban's end must be an integer (ms since the epoch), not ${terms.until}`);
  if (!Number.isSafeInteger(now)) throw new RangeError(`now must be an integer (ms since the epoch), not ${now}`);
  return { reason: terms.reason, until: terms.until };
}
