// Errors of reading settings from text (environment variables, and the options that mirror them).

/** What was wrong with a setting's text. */
export type SettingProblem = 'not-an-integer' | 'out-of-range';

export interface SettingErrorDetail {
  readonly kind: SettingProblem;
  /** Where the text came from: the variable (GANTRY_WASM_THREADS) or option it was read from. */
  readonly setting: string;
  /** The text found, trimmed. */
  readonly value: string;
  /** The inclusive range the value must lie in. */
  readonly bound: { readonly min: number; readonly max: number };
  /** What the setting means, for the message, e.g. "threads the wasm backend computes on". */
  readonly meaning?: string;
}

function describe(d: SettingErrorDetail): string {
  const unbounded = d.bound.min === Number.MIN_SAFE_INTEGER && d.bound.max === Number.MAX_SAFE_INTEGER;
  const range = unbounded ? '' : ` from ${d.bound.min} to ${d.bound.max}`;
  return `${d.setting}: expected an integer${range}${d.meaning ? ` (${d.meaning})` : ''}; found '${d.value}'`;
}

/** A setting's text is not a value it may take; the message names the setting, the bound and the value. */
export class SettingError extends Error {
  override name = 'SettingError';
  readonly kind: SettingProblem;
  readonly setting: string;
  readonly value: string;
  readonly bound: { readonly min: number; readonly max: number };

  constructor(readonly detail: SettingErrorDetail, options?: { cause?: unknown }) {
    super(describe(detail), options);
    this.kind = detail.kind;
    this.setting = detail.setting;
    this.value = detail.value;
    this.bound = detail.bound;
  }
}
