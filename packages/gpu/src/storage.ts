import type { DType, Storage } from '@normlab/tensor';
import { fillKernel } from './codegen.js';
import type { DeviceClient } from './device.js';

interface Held {
  id: number;
  client: DeviceClient;
}

/** The backstop: a storage collected without dispose() frees its device buffer. */
const registry = new FinalizationRegistry<Held>(({ id, client }) => client.free(id));

/**
 * A device buffer of float32 values. `dtype` is the logical type: float32,
 * or int32/bool (indices, masks), which the device stores as exact float32
 * values (|v| <= 2^24). All views of an array share one storage object, so
 * the buffer is freed when the last view is collected, or at dispose().
 *
 * A constant storage (from `fill`: `full`, `zeros`, and the 0-D arrays that
 * plain-number operands such as `mul(g, 0.001)` become) holds only its value
 * until a kernel needs its buffer: elementwise ops pass the value to the
 * kernel as a scalar parameter, so the common case allocates nothing and
 * runs no fill kernel.
 */
export class GpuStorage implements Storage {
  readonly device = 'gpu';
  private disposedFlag = false;
  private bufferId: number;
  private constantValue: number | undefined;

  constructor(
    /** Buffer id on the device worker; 0 for an empty storage (no buffer) or a constant one not yet materialized. */
    id: number,
    readonly length: number,
    readonly dtype: DType,
    readonly client: DeviceClient,
    /** The value of every element of a constant storage (already rounded to its dtype). */
    constant?: number,
  ) {
    this.bufferId = id;
    this.constantValue = constant;
    if (id !== 0) registry.register(this, { id, client }, this);
  }

  /** The value of every element of a constant storage (already rounded to its dtype); undefined for others. */
  get constant(): number | undefined {
    return this.constantValue;
  }

  /** The device buffer's id (a constant storage gets its buffer, filled on the device, on first use). */
  get id(): number {
    if (this.bufferId === 0 && this.constant !== undefined && this.length > 0 && !this.disposedFlag) {
      const n = this.length;
      this.bufferId = this.client.run(`fill:${n}`, () => fillKernel(n), 'fill', [this.constant]);
      registry.register(this, { id: this.bufferId, client: this.client }, this);
    }
    return this.bufferId;
  }

  /** Whether the storage is a constant whose buffer does not exist yet. */
  get lazy(): boolean {
    return this.bufferId === 0 && this.constant !== undefined;
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  /**
   * Takes over `other`'s contents (its buffer, or its constant value) in
   * place of this storage's own, which are freed; `other` ends disposed
   * without freeing them. A write in place uses it, so that every view of
   * this storage sees the new values.
   */
  adopt(other: GpuStorage): void {
    if (other.length !== this.length || other.client !== this.client || other.dtype !== this.dtype || other.disposedFlag || this.disposedFlag) {
      throw new Error(`gpu: adopt: expected a live storage of ${this.length} ${this.dtype} values on the same device`);
    }
    if (other.bufferId !== 0) registry.unregister(other);
    other.disposedFlag = true;
    if (this.bufferId !== 0) {
      registry.unregister(this);
      this.client.free(this.bufferId);
    }
    this.bufferId = other.bufferId;
    this.constantValue = other.constantValue;
    if (this.bufferId !== 0) registry.register(this, { id: this.bufferId, client: this.client }, this);
  }

  /** Frees the device buffer now (idempotent). Every view of it becomes unusable. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    if (this.bufferId !== 0) {
      registry.unregister(this);
      this.client.free(this.bufferId);
    }
  }
}
