/**
 * The functional namespace (torch.nn.functional): every functional form
 * under F and functional, the same functions as the top-level exports, and
 * F.linear against the Linear module.
 */
import { describe, expect, it } from 'vitest';
import * as autograd from '@normlab/autograd';
import * as nn from '../src/index.js';
import { F, Linear, functional, linear } from '../src/index.js';
import { randT, vals } from './norm-helpers.js';

describe('F / functional', () => {
  it('holds every functional form, the very functions exported by name', () => {
    const fromNn = ['batchNorm', 'batchRenorm', 'layerNorm', 'groupNorm', 'instanceNorm', 'rmsNorm', 'filterResponseNorm', 'tlu', 'linear', 'dropout', 'mseLoss', 'l1Loss', 'nllLoss', 'crossEntropy', 'binaryCrossEntropyWithLogits'] as const;
    for (const name of fromNn) expect(F[name], name).toBe(nn[name]);
    const fromAutograd = ['conv2d', 'maxPool2d', 'avgPool2d', 'adaptiveAvgPool2d', 'relu', 'leakyRelu', 'gelu', 'sigmoid', 'tanh', 'softplus', 'softmax', 'logSoftmax'] as const;
    for (const name of fromAutograd) expect(F[name], name).toBe(autograd[name]);
    expect(functional).toBe(F);
  });

  it('F.linear is x @ W^T + b, as the Linear module computes it, and checks the shapes', () => {
    const layer = new Linear(4, 3, { dtype: 'float64' });
    const x = randT([2, 5, 4], 1);
    expect(vals(F.linear(x, layer.weight, layer.bias))).toEqual(vals(layer.forward(x)));
    expect(vals(linear(x, layer.weight))).toEqual(vals(x.matmul(layer.weight.mT)));
    expect(() => linear(randT([2, 3], 1), layer.weight)).toThrow(/linear: expected input with last dim 4 \(weight \[3,4\]\), got shape \[2,3\]/);
    expect(() => linear(x, layer.weight, randT([4], 1))).toThrow(/linear: expected bias of shape \[3\], got \[4\]/);
  });
});
