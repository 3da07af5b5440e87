import type { Node } from 'jsonc-parser';
import type { Position, Range, TextEdit } from '../textRange';

/**
 * Minimal edits in the file's own style. jsonc-parser's `modify` re-formats the whole edited
 * line, which for a one-line `model.to_json()` file means the whole file; so edits are made
 * here, at the offsets jsonc-parser's tree gives, with the file's indentation.
 */

/** `indentUnit` is null for a file on one line (Python's `json.dumps` default: ", " and ": "). */
export interface TextStyle {
  indentUnit: string | null;
  eol: string;
}

export function inferStyle(text: string): TextStyle {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  if (!text.trimEnd().includes('\n')) return { indentUnit: null, eol };
  const indented = /\n([ \t]+)\S/.exec(text);
  return { indentUnit: indented ? indented[1] : '  ', eol };
}

/** Offsets at which each line starts (after \n, \r\n or a lone \r, as VS Code counts lines). */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 13) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    } else if (code === 10) {
      starts.push(i + 1);
    }
  }
  return starts;
}

export function positionAt(starts: number[], offset: number): Position {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (starts[mid] <= offset) low = mid;
    else high = mid - 1;
  }
  return { line: low, character: offset - starts[low] };
}

export function offsetAt(starts: number[], position: Position): number {
  return (starts[position.line] ?? starts[starts.length - 1]) + position.character;
}

/**
 * Applies edits made against `text` (all at once, as VS Code's WorkspaceEdit does). Throws when
 * two edits overlap, which would make the result depend on their order.
 */
export function applyEdits(text: string, edits: TextEdit[]): string {
  const starts = lineStarts(text);
  const spans = edits
    .map((edit) => ({ start: offsetAt(starts, edit.range.start), end: offsetAt(starts, edit.range.end), newText: edit.newText }))
    .sort((a, b) => a.start - b.start || a.end - b.end);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i].start < spans[i - 1].end) throw new Error(`overlapping edits at offsets ${spans[i - 1].start}–${spans[i - 1].end} and ${spans[i].start}–${spans[i].end}`);
  }
  let result = '';
  let cursor = 0;
  for (const span of spans) {
    result += text.slice(cursor, span.start) + span.newText;
    cursor = span.end;
  }
  return result + text.slice(cursor);
}

/** Builds edits against one text, in offsets, and hands them out as ranges. */
export class EditBuilder {
  private readonly starts: number[];
  readonly edits: TextEdit[] = [];

  constructor(
    readonly text: string,
    readonly style: TextStyle,
  ) {
    this.starts = lineStarts(text);
  }

  range(start: number, end: number): Range {
    return { start: positionAt(this.starts, start), end: positionAt(this.starts, end) };
  }

  offset(position: Position): number {
    return offsetAt(this.starts, position);
  }

  replace(start: number, end: number, newText: string): void {
    this.edits.push({ range: this.range(start, end), newText });
  }

  /** Replaces a value with `value`, laid out at the indentation of the line it starts on. */
  replaceNode(node: Node, value: unknown): void {
    this.replace(node.offset, node.offset + node.length, this.render(value, this.indentAt(node.offset)));
  }

  /** Sets `key` in an object: replaces the value if present, else appends the property. */
  setProperty(objectNode: Node, key: string, value: unknown): void {
    const existing = objectNode.children?.find((p) => p.children?.[0]?.value === key);
    if (existing?.children?.[1]) {
      this.replaceNode(existing.children[1], value);
      return;
    }
    const properties = objectNode.children ?? [];
    if (properties.length === 0) {
      this.replaceNode(objectNode, { [key]: value });
      return;
    }
    const last = properties[properties.length - 1];
    const indent = this.indentAt(last.offset);
    const separator = this.separator(last.offset, objectNode.offset, indent);
    this.replace(last.offset + last.length, last.offset + last.length, `,${separator}${JSON.stringify(key)}: ${this.render(value, indent)}`);
  }

  /** Inserts `values` into an array right after its element `after`, one per element slot. */
  insertAfterElement(arrayNode: Node, after: Node, values: unknown[]): void {
    const indent = this.indentAt(after.offset);
    const separator = this.separator(after.offset, arrayNode.offset, indent);
    const text = values.map((v) => `,${separator}${this.render(v, indent)}`).join('');
    this.replace(after.offset + after.length, after.offset + after.length, text);
  }

  /** The whitespace that starts the line `offset` is on. */
  indentAt(offset: number): string {
    const lineStart = this.starts[positionAt(this.starts, offset).line];
    return /^[ \t]*/.exec(this.text.slice(lineStart, offset))![0];
  }

  /** What goes between two siblings: a new line at their indentation, or the one-line ", " style. */
  private separator(siblingOffset: number, parentOffset: number, indent: string): string {
    const onOwnLine = positionAt(this.starts, siblingOffset).line !== positionAt(this.starts, parentOffset).line;
    return this.style.indentUnit !== null && onOwnLine ? this.style.eol + indent : ' ';
  }

  render(value: unknown, baseIndent: string): string {
    if (this.style.indentUnit === null) return oneLine(value);
    return JSON.stringify(value, null, this.style.indentUnit).split('\n').join(this.style.eol + baseIndent);
  }
}

/** Python `json.dumps` layout: what Keras's `to_json()` writes. */
function oneLine(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(oneLine).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${JSON.stringify(k)}: ${oneLine(v)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value);
}
