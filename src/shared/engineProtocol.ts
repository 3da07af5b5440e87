import type { LayerInfo, ModelFormat, WeightsSource } from './model';
import type { StepStats } from './stats';
import type { Finding } from './findings';
import type { Report } from './report';
import type { RunOptions, ResolvedRunOptions } from './runOptions';

/**
 * Messages between the extension host and the engine child process, sent over Node's IPC
 * channel (`process.send`). Bump the version when a message changes shape.
 */
export const ENGINE_PROTOCOL_VERSION = 2;
/** The engine's exit code when its SIGTERM handler ends it (128 + SIGTERM's 15, as a shell reports it). */
export const SIGTERM_EXIT_CODE = 143;

// ──── host → engine ────

/** Sent once by the host after fork: analyse this file. */
export interface StartMessage {
  type: 'start';
  protocolVersion: number;
  modelPath: string;
  options: RunOptions;
}
/** Sent by the host when the user stops: the engine finishes the current step and sends `done` with `cancelled`. */
export interface CancelMessage {
  type: 'cancel';
}
export type HostToEngineMessage = StartMessage | CancelMessage;

// ──── engine → host ────

/** The model is built and the backend chosen; training starts next. */
export interface ReadyMessage {
  type: 'ready';
  protocolVersion: number;
  backend: string;
  modelPath: string;
  format: ModelFormat;
  layers: LayerInfo[];
  options: ResolvedRunOptions;
  warnings: string[];
  /** Keras files with weights: trained weights from the file, or a fresh initialisation (`--weights init`). */
  weights?: WeightsSource;
}
/** One or more steps, batched so the host gets at most ~20 messages a second. */
export interface StepMessage {
  type: 'step';
  steps: StepStats[];
}
/** A finding as soon as the rules are certain of it (live, during the run). */
export interface FindingMessage {
  type: 'finding';
  finding: Finding;
}
/** The run ended (completed or cancelled): the full report. */
export interface DoneMessage {
  type: 'done';
  report: Report;
}
export type EngineErrorCode = 'bad-input' | 'build-failed' | 'backend-failed' | 'out-of-memory' | 'crashed' | 'internal';
/** The run failed; `message` names the file and the problem in one line. */
export interface ErrorMessage {
  type: 'error';
  code: EngineErrorCode;
  message: string;
  /** Stack or details for the log only, never for the user's first sight. */
  detail?: string;
  /** The layer a bad input is about, when it is one layer's: the host marks that layer's definition. */
  layer?: string;
}
/**
 * Before `ready`, while slow input is prepared (decoding a folder of images can take seconds):
 * what is being done and how far it is, so the user sees more than "starting".
 */
export interface LoadingMessage {
  type: 'loading';
  /** e.g. "decoding images". */
  what: string;
  done: number;
  total: number;
}
/** A line for the log channel (backend chosen, data set used, timings). */
export interface LogMessage {
  type: 'log';
  message: string;
}
export type EngineToHostMessage = ReadyMessage | StepMessage | FindingMessage | DoneMessage | ErrorMessage | LoadingMessage | LogMessage;

export function assertNever(x: never): never {
  throw new Error(`Unhandled message: ${JSON.stringify(x)}`);
}
