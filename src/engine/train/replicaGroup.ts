/**
 * Shared memory through which the replicas of a data-parallel trainer (the main thread and its
 * worker threads) meet during a step. A step is synchronous TF.js code on every thread, and
 * BatchNormalization needs the other replicas' figures in the middle of it, so the threads meet
 * with Atomics on SharedArrayBuffers rather than messages: a message would only arrive once
 * the thread's own step had returned to its event loop. Node lets the main thread block in
 * `Atomics.wait`; during a step it is busy anyway.
 */

/** Int32 slots of the control buffer. */
const GENERATION = 0;
const ARRIVED = 1;
const COMMAND_SEQUENCE = 2;
/** 0 while every replica is healthy, else the failed replica's rank + 1. */
const FAILED = 3;
const CONTROL_SLOTS = 4;

const ERROR_BYTES = 4096;
/** Command parameters (float64): the command, then its arguments. */
export const PARAMETER_SLOTS = 32;

export const enum Command {
  StepPlain = 1,
  StepInstrumented = 2,
  SetLearningRate = 3,
  SyncWeights = 4,
  Stop = 5,
  /** Forward and backward with the exchanges but no update: the start-up measurement. */
  GradientsOnly = 6,
  /** Every replica publishes its weights (tests check they are identical). */
  GatherWeights = 7,
}

/** Everything a replica needs to join the group; structured-cloneable (workerData). */
export interface GroupMemory {
  size: number;
  /** Float64 values each replica may publish per exchange. */
  slotLength: number;
  /** Float32 values of the batch the main thread writes for the workers (x then y). */
  inputLength: number;
  control: SharedArrayBuffer;
  parameters: SharedArrayBuffer;
  exchange: SharedArrayBuffer;
  input: SharedArrayBuffer;
  error: SharedArrayBuffer;
}

export function allocateGroupMemory(size: number, slotLength: number, inputLength: number): GroupMemory {
  return {
    size,
    slotLength,
    inputLength,
    control: new SharedArrayBuffer(CONTROL_SLOTS * 4),
    parameters: new SharedArrayBuffer(PARAMETER_SLOTS * 8),
    // Two areas used in turn: a replica may publish exchange k+1 while a slower one still reads
    // exchange k, but not k+2 before everyone has passed the barrier of k+1 (so finished k).
    exchange: new SharedArrayBuffer(2 * size * slotLength * 8),
    input: new SharedArrayBuffer(Math.max(1, inputLength) * 4),
    error: new SharedArrayBuffer(ERROR_BYTES),
  };
}

/** Thrown on every replica once one of them has failed or stopped answering. */
export class ReplicaFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicaFailure';
  }
}

/** One replica's handle on the group. Every replica performs the same sequence of barriers and exchanges. */
export class ReplicaLink {
  readonly size: number;
  readonly parameters: Float64Array;
  readonly input: Float32Array;
  private readonly control: Int32Array;
  private readonly slots: Float64Array;
  private readonly errorBytes: Uint8Array;
  private exchanges = 0;
  private lastCommand = 0;

  constructor(
    private readonly memory: GroupMemory,
    readonly rank: number,
    /** How long a barrier waits for the others before it declares them gone. */
    private readonly timeoutMs: number,
  ) {
    this.size = memory.size;
    this.control = new Int32Array(memory.control);
    this.parameters = new Float64Array(memory.parameters);
    this.input = new Float32Array(memory.input);
    this.slots = new Float64Array(memory.exchange);
    this.errorBytes = new Uint8Array(memory.error);
  }

  /** Returns once every replica has arrived; throws if one has failed or the wait times out. */
  barrier(): void {
    const control = this.control;
    const generation = Atomics.load(control, GENERATION);
    this.throwIfFailed();
    if (Atomics.add(control, ARRIVED, 1) === this.size - 1) {
      Atomics.store(control, ARRIVED, 0);
      Atomics.add(control, GENERATION, 1);
      Atomics.notify(control, GENERATION);
      return;
    }
    const deadline = Date.now() + this.timeoutMs;
    while (Atomics.load(control, GENERATION) === generation) {
      Atomics.wait(control, GENERATION, generation, 250);
      this.throwIfFailed();
      if (Date.now() > deadline && Atomics.load(control, GENERATION) === generation) {
        const message = `a data-parallel replica stopped answering (replica ${this.rank} waited ${Math.round(this.timeoutMs / 1000)} s at a barrier)`;
        this.fail(message);
        throw new ReplicaFailure(message);
      }
    }
  }

  /**
   * Publishes `local` and returns every replica's published values in rank order (`length`
   * values each; views valid until the exchange after next).
   */
  exchange(local: ArrayLike<number>, length: number = local.length): Float64Array[] {
    this.nextSlot(local.length).set(local);
    return this.exchangeSlots(length);
  }

  /**
   * This replica's slot for the next exchange, to write its values into directly (large
   * gradients: no array of their own to allocate and fill first); then `exchangeSlots`.
   */
  nextSlot(length: number): Float64Array {
    if (length > this.memory.slotLength) throw new Error(`data-parallel exchange of ${length} values exceeds its slot of ${this.memory.slotLength}`);
    const start = this.slotStart(this.exchanges & 1, this.rank);
    return this.slots.subarray(start, start + length);
  }

  /** Publishes what was written into `nextSlot` and returns every replica's first `length` values, in rank order. */
  exchangeSlots(length: number): Float64Array[] {
    if (length > this.memory.slotLength) throw new Error(`data-parallel exchange of ${length} values exceeds its slot of ${this.memory.slotLength}`);
    const area = this.exchanges++ & 1;
    this.barrier();
    return Array.from({ length: this.size }, (_, rank) => this.slots.subarray(this.slotStart(area, rank), this.slotStart(area, rank) + length));
  }

  private slotStart(area: number, rank: number): number {
    return (area * this.size + rank) * this.memory.slotLength;
  }

  /** Main thread: makes the workers run a command (parameters written before). */
  issue(command: Command): void {
    this.parameters[0] = command;
    Atomics.add(this.control, COMMAND_SEQUENCE, 1);
    Atomics.notify(this.control, COMMAND_SEQUENCE);
  }

  /** Worker: waits, for as long as it takes, for the next command; throws if the group failed. */
  nextCommand(): Command {
    for (;;) {
      this.throwIfFailed();
      const sequence = Atomics.load(this.control, COMMAND_SEQUENCE);
      if (sequence !== this.lastCommand) {
        this.lastCommand = sequence;
        return this.parameters[0] as Command;
      }
      Atomics.wait(this.control, COMMAND_SEQUENCE, sequence, 1000);
    }
  }

  /** Marks the group failed (first failure wins) and wakes everyone waiting. */
  fail(message: string): void {
    if (Atomics.compareExchange(this.control, FAILED, 0, this.rank + 1) === 0) {
      const bytes = new TextEncoder().encode(message).subarray(0, ERROR_BYTES - 4);
      this.errorBytes.fill(0);
      new DataView(this.memory.error).setUint32(0, bytes.length);
      this.errorBytes.set(bytes, 4);
    }
    Atomics.notify(this.control, GENERATION);
    Atomics.notify(this.control, COMMAND_SEQUENCE);
  }

  /** The failure recorded by `fail`, if any. */
  failure(): string | undefined {
    const failed = Atomics.load(this.control, FAILED);
    if (failed === 0) return undefined;
    const length = new DataView(this.memory.error).getUint32(0);
    const text = new TextDecoder().decode(this.errorBytes.slice(4, 4 + length));
    return failed - 1 === 0 ? text : `data-parallel replica ${failed - 1} (a worker thread) failed: ${text}`;
  }

  private throwIfFailed(): void {
    const failure = this.failure();
    if (failure !== undefined) throw new ReplicaFailure(failure);
  }
}

/** Rows of a batch of `total` each replica takes: as even as possible, the first replicas one more. */
export function splitRows(total: number, size: number): Array<{ start: number; count: number }> {
  const base = Math.floor(total / size);
  const extra = total % size;
  let start = 0;
  return Array.from({ length: size }, (_, rank) => {
    const count = base + (rank < extra ? 1 : 0);
    const piece = { start, count };
    start += count;
    return piece;
  });
}
