// jsfive (pinned 0.4.2) ships no types: the part of its API the Keras readers use.
declare module 'jsfive' {
  export class Group {
    readonly keys: string[];
    readonly attrs: Record<string, unknown>;
    get(path: string): Group | Dataset | null;
  }
  export class Dataset {
    readonly shape: number[];
    /** numpy-style dtype string, e.g. '<f4', '<f8', '<i8'. */
    readonly dtype: unknown;
    readonly value: ArrayLike<number>;
    readonly attrs: Record<string, unknown>;
  }
  export class File extends Group {
    constructor(buffer: ArrayBuffer, filename?: string);
  }
}
