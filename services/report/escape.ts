// Escaping for everything the report inserts into its page. Three contexts occur:
//   HTML text and attribute values      -> escapeHtml
//   JSON data inside <script type="application/json">  -> scriptJson
//   a third-party script inlined in <script>           -> inlineScript
// Inside <script> the HTML parser ends the element at the first "</script" whatever the JS means,
// and "<!--" can switch it into an escaped state, so neither sequence may survive in any of them.

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe in element content and in quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/**
 * JSON for a <script type="application/json"> block: '<', '>' and '&' become \u003c, \u003e,
 * \u0026 (the same string to JSON.parse), and U+2028/U+2029 are escaped for older JS parsers.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * A JavaScript source for an inline <script>: "</script" becomes "<\/script" and "<!--" becomes
 * "<\x21--", which mean the same inside JS strings, template literals, regexes (also with the u
 * flag) and comments, the only places they can occur in valid code. The source-map comment is
 * dropped: there is no map next to a report.
 */
export function inlineScript(source: string): string {
  return source
    .replace(/<\/(script)/gi, '<\\/$1')
    .replace(/<!--/g, '<\\x21--')
    .replace(/\/\/# sourceMappingURL=\S*\s*$/, '');
}
