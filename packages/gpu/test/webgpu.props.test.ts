// webgpu (Dawn; lavapipe without a GPU): few runs, small shapes, since each new shape compiles its kernels.
import { kernelProperties } from './props.js';

kernelProperties('webgpu', { runs: 3, maxK: 2003, maxMN: 12 });
