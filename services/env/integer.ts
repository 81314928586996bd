// The one integer parser for settings given as text (environment variables, and options that
// mirror one): optional minus sign and decimal digits, surrounding blanks ignored, a safe
// integer within inclusive bounds. "2.5", "1e3", "0x10", "+2" and "" are not integers.
import { SettingError } from './errors.ts';

export interface IntegerSpec {
  /** Named in the error: the variable or option the text came from. */
  setting: string;
  /** Inclusive bounds; default the safe integers. */
  min?: number;
  max?: number;
  /** What the setting means, for the error message. */
  meaning?: string;
}

export function parseInteger(text: string, spec: IntegerSpec): number {
  const value = text.trim();
  const bound = { min: spec.min ?? Number.MIN_SAFE_INTEGER, max: spec.max ?? Number.MAX_SAFE_INTEGER };
  const base = { setting: spec.setting, value, bound, ...(spec.meaning !== undefined ? { meaning: spec.meaning } : {}) };
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n)) throw new SettingError({ kind: 'not-an-integer', ...base });
  if (n < bound.min || n > bound.max) throw new SettingError({ kind: 'out-of-range', ...base });
  return n === 0 ? 0 : n; // "-0" is 0
}
