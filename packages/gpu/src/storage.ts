import type { DType, Storage } from '@normlab/tensor';
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
 */
export class GpuStorage implements Storage {
  readonly device = 'gpu';
  private disposedFlag = false;

  constructor(
    /** Buffer id on the device worker; 0 for an empty storage (no buffer). */
    readonly id: number,
    readonly length: number,
    readonly dtype: DType,
    readonly client: DeviceClient,
  ) {
    if (id !== 0) registry.register(this, { id, client }, this);
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** Frees the device buffer now (idempotent). Every view of it becomes unusable. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    if (this.id !== 0) {
      registry.unregister(this);
      this.client.free(this.id);
    }
  }
}
