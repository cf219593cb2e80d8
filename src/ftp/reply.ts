/**
 * FTP reply formatting (RFC 959 section 4.2).
 *
 * @module
 */

/** A reply: a three-digit code and one or more lines of text. */
export interface Reply {
  code: number;
  lines: string[];
}

/** Builds a reply from text; "\n" in the text makes it multi-line. */
export function reply(code: number, text: string | string[]): Reply {
  const lines = (Array.isArray(text) ? text : [text]).flatMap((t) => t.split("\n"));
  return { code, lines: lines.map(stripLineBreaks) };
}

/**
 * Renders a reply for the wire. Multi-line replies use the `123-` ... `123 `
 * form; middle lines that would look like a reply line themselves get a
 * leading space, as the RFC requires.
 */
export function formatReply({ code, lines }: Reply): string {
  if (lines.length <= 1) return `${code} ${lines[0] ?? ""}\r\n`;
  const first = `${code}-${lines[0]}\r\n`;
  const middle = lines.slice(1, -1).map((line) =>
    `${/^\d{3}[ -]/.test(line) ? " " : ""}${line}\r\n`
  );
  const last = `${code} ${lines[lines.length - 1]}\r\n`;
  return first + middle.join("") + last;
}

/** Doubles quotes in a path, the RFC 959 way of quoting a name in a 257 reply. */
export function quotePath(path: string): string {
  return `"${path.replaceAll('"', '""')}"`;
}

/** A reply line never carries a client's control characters back (line breaks, escapes, NUL). */
function stripLineBreaks(text: string): string {
  return text.replace(/[\r\n]/g, " ").replace(/\p{Cc}/gu, "?");
}
