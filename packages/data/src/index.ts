/**
 * @normlab/data: datasets, batching, the MNIST digits and Fashion-MNIST for @normlab/autograd,
 * after torch.utils.data and torchvision.datasets.MNIST.
 */
export {
  parseIdx, readIdxFile, readIdxHeader, IdxFormatError, IDX_TYPE_CODES,
  type IdxArray, type IdxDType, type IdxTypedArrayMap, type ReadIdxOptions,
} from './idx.js';
export { type Dataset, TensorDataset } from './dataset.js';
export { DataLoader, type DataLoaderOptions, type Batch } from './data-loader.js';
export { loadMnist, mnistDataDir, MNIST_MEAN, MNIST_STD, type MnistOptions } from './mnist.js';
export {
  loadFashionMnist, fashionMnistCacheDir, FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD, type FashionMnistOptions,
} from './fashion-mnist.js';
