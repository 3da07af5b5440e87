import type { EngineErrorCode, ErrorMessage } from '../../shared/engineProtocol';
import { InputError, UsageError } from '../errors';
import { formatBytes, WASM_HEAP_MAX_BYTES } from '../resources';

/** Out-of-memory shows up as a RangeError from typed-array or wasm allocation, not as a crash. */
function isOutOfMemory(error: Error): boolean {
  return /Array buffer allocation failed|out of memory|Out of memory|Invalid typed array length|memory access out of bounds/.test(error.message) || isWasmHeapFull(error);
}

/**
 * tfjs-backend-wasm 4.22 when its heap (at most 4 GB, resources.ts) cannot hold a tensor: a
 * request past the ceiling fails in `new Float32Array(heap, offset)` with "offset is out of
 * bounds"; one inside a kernel with the heap full aborts the module with "Aborted()" (measured).
 */
function isWasmHeapFull(error: Error): boolean {
  return (error instanceof RangeError && /offset is out of bounds/.test(error.message)) || /^Aborted\(/.test(error.message);
}

/**
 * Turns anything a run throws into the protocol's error message: a one-line `message` for the
 * user (naming the file), the stack kept apart in `detail` for the log.
 */
export function describeFailure(error: unknown, modelPath: string): ErrorMessage {
  const failure = error instanceof Error ? error : new Error(String(error));
  let code: EngineErrorCode = 'internal';
  let message = `${modelPath}: ${failure.message.split('\n')[0]}`;
  if (failure instanceof InputError) {
    code = 'bad-input';
    message = failure.message.split('\n')[0];
  } else if (failure instanceof UsageError) {
    code = 'bad-input';
  } else if (isWasmHeapFull(failure)) {
    code = 'out-of-memory';
    message = `${modelPath}: the wasm backend ran out of memory (its heap is at most ${formatBytes(WASM_HEAP_MAX_BYTES)}); try a smaller batch size, fewer filters or units, or the cpu backend`;
  } else if (isOutOfMemory(failure)) {
    code = 'out-of-memory';
    message = `${modelPath}: ran out of memory (${failure.message.split('\n')[0]}); try a smaller --batch-size`;
  } else if (/backend/i.test(failure.message)) {
    code = 'backend-failed';
  }
  const described: ErrorMessage = { type: 'error', code, message, detail: failure.stack };
  if (failure instanceof InputError && failure.layer !== undefined) described.layer = failure.layer;
  return described;
}
