/**
 * @normlab/data: datasets, batching, MNIST, Fashion-MNIST, CIFAR and augmentation transforms for @normlab/autograd,
 * after torch.utils.data, torchvision.datasets and torchvision.transforms.
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
export {
  loadCifar10, loadCifar100, CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, type CifarOptions, type Cifar100Options,
} from './cifar.js';
export {
  type Transform, compose, pad, randomCrop, randomHorizontalFlip, normalize, toTensor, cifarTrainTransform, type RandomCropOptions,
} from './transforms.js';
