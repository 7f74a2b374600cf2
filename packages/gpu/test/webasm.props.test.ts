import { kernelProperties } from './props.js';

kernelProperties('webasm', { runs: 8, maxK: 2003, maxMN: 24 });
