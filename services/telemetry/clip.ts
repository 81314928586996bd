// Bounded text for errors and logs (every layer uses it, so it sits with the logs, at the bottom).

/**
 * `text` for an error message, bounded: a request can carry a 100,000-character id or tensor
 * name, and an error must not echo it whole. Longer text keeps its first `max` characters and
 * says how long it was: "abc... (100000 chars)".
 */
export function clipText(text: string, max = 64): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} chars)`;
}
