import type { Position, Range, TextEdit } from '../../textRange';
import { lineStarts, offsetAt, positionAt } from '../textEdits';

/**
 * Just enough of Python's lexical structure for minimal text edits: where strings and comments
 * are (so a `(` inside one is not a bracket), where logical lines start and end (continuations
 * inside brackets, strings and after a backslash), and their indentation. Positions come from
 * the trainer (Python's `ast`, converted to UTF-16), so no parser is needed on this side.
 */
export class PythonSource {
  readonly starts: number[];
  readonly eol: string;
  /** Per offset: true inside a string literal or a comment. */
  private readonly opaque: Uint8Array;
  private logical: LogicalLine[] | undefined;

  constructor(readonly text: string) {
    this.starts = lineStarts(text);
    this.eol = text.includes('\r\n') ? '\r\n' : '\n';
    this.opaque = markStringsAndComments(text);
  }

  offset(position: Position): number {
    return offsetAt(this.starts, position);
  }

  position(offset: number): Position {
    return positionAt(this.starts, offset);
  }

  range(start: number, end: number): Range {
    return { start: this.position(start), end: this.position(end) };
  }

  slice(range: Range): string {
    return this.text.slice(this.offset(range.start), this.offset(range.end));
  }

  lineText(line: number): string {
    const start = this.starts[line] ?? this.text.length;
    const next = this.starts[line + 1] ?? this.text.length;
    return this.text.slice(start, next).replace(/\r?\n$|\r$/, '');
  }

  /** The end of `line` (before its line break). */
  lineEnd(line: number): number {
    return (this.starts[line] ?? this.text.length) + this.lineText(line).length;
  }

  isCode(offset: number): boolean {
    return this.opaque[offset] === 0;
  }

  insert(offset: number, newText: string): TextEdit {
    const at = this.position(offset);
    return { range: { start: at, end: at }, newText };
  }

  replace(start: number, end: number, newText: string): TextEdit {
    return { range: this.range(start, end), newText };
  }

  /** The `)` that closes the `(` at `open`, skipping strings, comments and nested brackets; -1 if none. */
  closingBracket(open: number): number {
    let depth = 0;
    for (let i = open; i < this.text.length; i++) {
      if (!this.isCode(i)) continue;
      const c = this.text[i];
      if (c === '(' || c === '[' || c === '{') depth++;
      else if (c === ')' || c === ']' || c === '}') {
        depth--;
        if (depth === 0) return i;
      }
    }
    return -1;
  }

  /** The bracket that `close` closes, scanning back over strings, comments and nested brackets; -1 if none. */
  openingBracket(close: number): number {
    let depth = 0;
    for (let i = close; i >= 0; i--) {
      if (!this.isCode(i)) continue;
      const c = this.text[i];
      if (c === ')' || c === ']' || c === '}') depth++;
      else if (c === '(' || c === '[' || c === '{') {
        depth--;
        if (depth === 0) return i;
      }
    }
    return -1;
  }

  /**
   * A call expression starting at `start` (`nn.ReLU(inplace=True)`, `torch.sigmoid(x)`,
   * `x.sigmoid()`): the callee's last name, the parentheses and the top-level arguments.
   */
  call(start: number, end?: number): PythonCall | undefined {
    let open = -1;
    if (end !== undefined) {
      // The call whose `)` ends the range: `sigmoid` in `self.conv3(x).sigmoid()`, `sigmoid` in `torch.sigmoid(self.conv1(x))`.
      let close = end - 1;
      while (close > start && /\s/.test(this.text[close])) close--;
      if (this.text[close] === ')') open = this.openingBracket(close);
    }
    if (open < start) {
      open = -1;
      for (let i = start; i < (end ?? this.text.length); i++) {
        if (this.isCode(i) && this.text[i] === '(') {
          open = i;
          break;
        }
      }
    }
    if (open < 0) return undefined;
    const callee = this.text.slice(start, open);
    const name = /([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(callee);
    if (!name) return undefined;
    const close = this.closingBracket(open);
    if (close < 0) return undefined;
    const nameStart = start + name.index;
    return {
      callee: callee.trim(),
      name: name[1],
      nameStart,
      nameEnd: nameStart + name[1].length,
      open,
      close,
      args: this.splitArguments(open + 1, close),
    };
  }

  /** Top-level comma-separated arguments between `from` and `to` (offsets), trimmed. */
  splitArguments(from: number, to: number): PythonArgument[] {
    const args: PythonArgument[] = [];
    let depth = 0;
    let segmentStart = from;
    const push = (segmentEnd: number) => {
      const raw = this.text.slice(segmentStart, segmentEnd);
      const lead = raw.length - raw.trimStart().length;
      const value = raw.trim();
      if (value === '') return;
      const start = segmentStart + lead;
      const keyword = /^([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*/.exec(value);
      args.push({
        start,
        end: start + value.length,
        text: value,
        keyword: keyword?.[1],
        valueStart: keyword ? start + keyword[0].length : start,
      });
    };
    for (let i = from; i < to; i++) {
      if (!this.isCode(i)) continue;
      const c = this.text[i];
      if (c === '(' || c === '[' || c === '{') depth++;
      else if (c === ')' || c === ']' || c === '}') depth--;
      else if (c === ',' && depth === 0) {
        push(i);
        segmentStart = i + 1;
      }
    }
    push(to);
    return args;
  }

  /** Logical lines (a statement with its continuation lines), blank and comment-only lines left out. */
  logicalLines(): LogicalLine[] {
    if (this.logical) return this.logical;
    const lines: LogicalLine[] = [];
    let depth = 0;
    let current: LogicalLine | undefined;
    for (let line = 0; line < this.starts.length; line++) {
      const start = this.starts[line];
      const text = this.lineText(line);
      const continues = current !== undefined;
      if (!continues) {
        const code = text.replace(/^\s+/, '');
        if (code === '' || (code.startsWith('#') && this.isCodeOrComment(start + text.length - code.length))) continue;
        current = { startLine: line, endLine: line, indent: text.length - code.length, text: '' };
      }
      current!.endLine = line;
      for (let i = start; i < start + text.length; i++) {
        if (!this.isCode(i)) continue;
        const c = this.text[i];
        if (c === '(' || c === '[' || c === '{') depth++;
        else if (c === ')' || c === ']' || c === '}') depth = Math.max(0, depth - 1);
      }
      const lineEnd = start + text.length;
      // Inside a bracket, inside a triple-quoted string across the break, or after a backslash: the statement goes on.
      const openString = lineEnd < this.text.length && !this.isCode(lineEnd) && this.opaque[lineEnd] === 2;
      const backslash = /\\$/.test(text) && this.isCode(lineEnd - 1);
      if (depth === 0 && !openString && !backslash) {
        current!.text = this.text.slice(this.starts[current!.startLine], lineEnd);
        lines.push(current!);
        current = undefined;
      }
    }
    if (current) {
      current.text = this.text.slice(this.starts[current.startLine]);
      lines.push(current);
    }
    this.logical = lines;
    return lines;
  }

  /** The logical lines of the block a header (`class X:`, `def f(...):`) at `header` opens; empty for a one-line body. */
  blockBody(header: LogicalLine): LogicalLine[] {
    const lines = this.logicalLines();
    const index = lines.indexOf(header);
    const body: LogicalLine[] = [];
    for (let i = index + 1; i < lines.length && lines[i].indent > header.indent; i++) body.push(lines[i]);
    return body;
  }

  /** `class Name(...)` at any depth: its header line. */
  findClass(name: string): LogicalLine | undefined {
    const pattern = new RegExp(`^\\s*class\\s+${escapeRegExp(name)}\\b`);
    return this.logicalLines().find((line) => pattern.test(line.text));
  }

  /** `def name(` directly in `body` (a class's methods, not nested functions). */
  findMethod(body: LogicalLine[], name: string): LogicalLine | undefined {
    if (body.length === 0) return undefined;
    const indent = body[0].indent;
    const pattern = new RegExp(`^\\s*(async\\s+)?def\\s+${escapeRegExp(name)}\\s*\\(`);
    return body.find((line) => line.indent === indent && pattern.test(line.text));
  }

  private isCodeOrComment(offset: number): boolean {
    return this.opaque[offset] !== 2;
  }
}

export interface LogicalLine {
  startLine: number;
  endLine: number;
  /** Columns of leading whitespace of the first line. */
  indent: number;
  text: string;
}

export interface PythonCall {
  callee: string;
  /** The callee's last name: `ReLU` in `nn.ReLU(...)`, `sigmoid` in `x.sigmoid()`. */
  name: string;
  nameStart: number;
  nameEnd: number;
  open: number;
  close: number;
  args: PythonArgument[];
}

export interface PythonArgument {
  start: number;
  end: number;
  text: string;
  keyword?: string;
  valueStart: number;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** 0 for code, 1 for a comment, 2 for a string literal (quotes and prefix included). */
function markStringsAndComments(text: string): Uint8Array {
  const marks = new Uint8Array(text.length + 1);
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '#') {
      while (i < text.length && text[i] !== '\n' && text[i] !== '\r') marks[i++] = 1;
      continue;
    }
    if (c === '"' || c === "'") {
      const triple = text.startsWith(c.repeat(3), i);
      const quote = triple ? c.repeat(3) : c;
      const start = i;
      i += quote.length;
      while (i < text.length) {
        // In raw strings too, a backslash keeps the next quote inside the literal.
        if (text[i] === '\\') {
          i += 2;
          continue;
        }
        if (text.startsWith(quote, i)) {
          i += quote.length;
          break;
        }
        if (!triple && (text[i] === '\n' || text[i] === '\r')) break;
        i++;
      }
      marks.fill(2, start, Math.min(i, text.length));
      continue;
    }
    i++;
  }
  return marks;
}
