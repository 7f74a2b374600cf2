export { Optimizer, type ParamGroup } from './optimizer.js';
export { SGD, type SGDOptions, sgdUpdate } from './sgd.js';
