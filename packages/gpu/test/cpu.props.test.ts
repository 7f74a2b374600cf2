// gpu.js's cpu mode: plain JavaScript kernels, the reference the other modes are compared against in gpu.js itself.
import { kernelProperties } from './props.js';

kernelProperties('cpu', { runs: 5, maxK: 1000, maxMN: 16 });
