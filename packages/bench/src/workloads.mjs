// The normlab side of the bench's training-step and layer workloads, as step
// functions: run-normlab.mjs times them, profile-step.mjs profiles them.
import * as nl from '@normlab/tensor';
import { Tensor } from '@normlab/autograd';
import * as nn from '@normlab/nn';
import { vgg } from '@normlab/models';
import { BN_MLP, CONV_NET, GROUP_NORM, LAYER_NORM, MLP, VGG, randomFloats, randomLabels } from './timing.mjs';

/** One SGD step (zeroGrad, forward, crossEntropy, backward, step) of `model` on (X, y). */
export function trainStep(model, lr, X, y) {
  const opt = new nn.optim.SGD(model.parameters(), { lr });
  return () => {
    opt.zeroGrad();
    nn.crossEntropy(model.forward(X), y).backward();
    opt.step();
  };
}

/** Forward + backward of `layer` on x of `shape` (requiring grad) with an output gradient, both seeded. */
export function layerStep(layer, shape, seeds) {
  const size = shape.reduce((p, d) => p * d, 1);
  const x = new Tensor(nl.fromTyped(randomFloats(size, seeds[0]), shape), { requiresGrad: true });
  const gy = new Tensor(nl.fromTyped(randomFloats(size, seeds[1]), shape));
  return () => {
    x.grad = null;
    layer.zeroGrad();
    layer.forward(x).backward(gy);
  };
}

/** The BN paper's MNIST MLP (Linear -> [BatchNorm1d] -> Sigmoid per hidden layer) on a batch of 60. */
export function mlpStep(withBn) {
  const { sizes, batch, lr } = withBn ? BN_MLP : MLP;
  const layers = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new nn.Linear(sizes[i], sizes[i + 1]));
    if (i + 2 < sizes.length) layers.push(...(withBn ? [new nn.BatchNorm1d(sizes[i + 1])] : []), new nn.Sigmoid());
  }
  const X = new Tensor(nl.fromTyped(randomFloats(batch * sizes[0], 23), [batch, sizes[0]]));
  const y = new Tensor(nl.fromTyped(randomLabels(batch, sizes.at(-1), 24), [batch]));
  return trainStep(new nn.Sequential(...layers), lr, X, y);
}

/** The conv net of CONV_NET (a small VGG block). */
export function convNetStep() {
  const { batch, channels: [c0, c1, c2], size, classes, lr } = CONV_NET;
  const model = new nn.Sequential(
    new nn.Conv2d(c0, c1, 3, { padding: 1 }), new nn.BatchNorm2d(c1), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(c1, c2, 3, { padding: 1 }), new nn.BatchNorm2d(c2), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(c2 * (size / 4) ** 2, classes),
  );
  const X = new Tensor(nl.fromTyped(randomFloats(batch * c0 * size * size, 25), [batch, c0, size, size]));
  const y = new Tensor(nl.fromTyped(randomLabels(batch, classes, 26), [batch]));
  return trainStep(model, lr, X, y);
}

/** VGG-11 at a quarter of the width on a batch of CIFAR-size images (VGG of timing.mjs). */
export function vggStep() {
  const { width, batch, size, classes, lr } = VGG;
  const model = vgg(11, { width, numClasses: classes });
  const X = new Tensor(nl.fromTyped(randomFloats(batch * 3 * size * size, 27), [batch, 3, size, size]));
  const y = new Tensor(nl.fromTyped(randomLabels(batch, classes, 28), [batch]));
  return trainStep(model, lr, X, y);
}

export const layerNormStep = () => layerStep(new nn.LayerNorm(LAYER_NORM.features, { eps: LAYER_NORM.eps }), [LAYER_NORM.rows, LAYER_NORM.features], [41, 42]);

export function groupNormStep() {
  const { n, c, h, w, groups, eps } = GROUP_NORM;
  return layerStep(new nn.GroupNorm(groups, c, { eps }), [n, c, h, w], [43, 44]);
}
