/** Zero-based, like VS Code's and LSP's positions. `character` counts UTF-16 code units. */
export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}
/** One replacement in the model file: `range` in the text as it was when the fix was planned. */
export interface TextEdit {
  range: Range;
  newText: string;
}
