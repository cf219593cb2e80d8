/**
 * Just enough XML for COS: building response documents as strings, and
 * reading the small request bodies the SDK posts (CompleteMultipartUpload,
 * Delete). No attributes, namespaces or mixed content are needed.
 */

/** An element of a parsed request body. */
export interface XmlElement {
  name: string;
  children: XmlElement[];
  /** Concatenated, entity-decoded text directly inside the element. */
  text: string;
}

/**
 * Escapes text for use inside an element the way COS does: named entities
 * for `& < >`, numeric ones (decimal and hex) for quotes and the backtick,
 * which the SDK's parser leaves undecoded unless the caller decodes them.
 */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ENTITY_OF[c]);
}

const ENTITY_OF: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&#34;",
  "'": "&#39;",
  "`": "&#x60;",
};

/**
 * One element as a string: scalar content is escaped text, an array holds
 * child elements already built with `element`.
 */
export function element(name: string, content: string | number | boolean | string[]): string {
  const inner = Array.isArray(content) ? content.join("") : escapeXml(String(content));
  return `<${name}>${inner}</${name}>`;
}

/** Prefixes the XML declaration COS sends. */
export function xmlDocument(root: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${root}`;
}

/** Parses a small XML document; throws on malformed input. */
export function parseXml(text: string): XmlElement {
  const stack: XmlElement[] = [{ name: "#document", children: [], text: "" }];
  const token =
    /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[([\s\S]*?)\]\]>|<(\/?)([^\s/>]+)[^>]*?(\/?)>|([^<]+)/g;
  for (const match of text.matchAll(token)) {
    const [, cdata, closing, name, selfClosing, chars] = match;
    const top = stack[stack.length - 1];
    if (cdata !== undefined) top.text += cdata;
    else if (chars !== undefined) top.text += decodeEntities(chars);
    else if (name === undefined) continue;
    else if (closing) closeElement(stack, name);
    else openElement(stack, name, selfClosing === "/");
  }
  const root = stack[0].children[0];
  if (stack.length !== 1 || root === undefined) throw new Error("unbalanced XML");
  return root;
}

function openElement(stack: XmlElement[], name: string, selfClosing: boolean): void {
  const node: XmlElement = { name, children: [], text: "" };
  stack[stack.length - 1].children.push(node);
  if (!selfClosing) stack.push(node);
}

function closeElement(stack: XmlElement[], name: string): void {
  const top = stack.pop();
  if (top === undefined || top.name !== name || stack.length === 0) {
    throw new Error(`unexpected </${name}>`);
  }
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith("#x")) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith("#")) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return NAMED_ENTITIES[ref] ?? whole;
  });
}

const NAMED_ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

/** The child elements named `name`. */
export function childrenNamed(parent: XmlElement, name: string): XmlElement[] {
  return parent.children.filter((c) => c.name === name);
}

/** The text of the first child named `name`, or undefined. */
export function childText(parent: XmlElement, name: string): string | undefined {
  return parent.children.find((c) => c.name === name)?.text;
}
