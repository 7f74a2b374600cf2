# Times PyTorch (Debian's python3-torch) on the rows of `pnpm bench`, with
# the shapes, input distributions and timing rule of timing.mjs. argv[1]:
# threads (torch.set_num_threads); BENCH_ONLY: the groups. Prints one JSON
# object of results on stdout (the same keys as run-normlab.mjs), plus the
# BLAS library the process loaded.
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1])
spec = json.loads(sys.argv[2])  # the shapes and timing of timing.mjs, passed by bench.mjs
torch.set_num_threads(threads)
torch.set_grad_enabled(True)


def median_ms(fn, warmup=3, minRuns=7, minMs=300, maxRuns=200):
    """timing.mjs's medianMs: warm up, then run until minRuns runs and minMs ms; the median."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < maxRuns and (len(times) < minRuns or (time.perf_counter() - start) * 1e3 < minMs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) >> 1]


def lcg(n, seed):
    """timing.mjs's LCG states s_1..s_n, by blocks: s_{i+L} = A s_i + C (mod 2^32)."""
    a, c, m = 1664525, 1013904223, 1 << 32
    L = min(n, 4096)
    first = np.empty(L, dtype=np.uint64)
    s = seed % m
    for i in range(L):
        s = (a * s + c) % m
        first[i] = s
    A, C = 1, 0  # the map s -> a s + c applied L times
    for _ in range(L):
        A, C = (a * A) % m, (a * C + c) % m
    out = np.empty(n, dtype=np.uint64)
    block = first
    for start in range(0, n, L):
        out[start:start + L] = block[:n - start]
        block = (np.uint64(A) * block + np.uint64(C)) & np.uint64(m - 1)
    return out


def random_floats(shape, seed):
    n = int(np.prod(shape))
    return torch.from_numpy((lcg(n, seed).astype(np.float64) / 2**31 - 1).astype(np.float32)).reshape(shape)


def random_labels(n, classes, seed):
    return torch.from_numpy((lcg(n, seed) % classes).astype(np.int64))


def blas_library():
    with open('/proc/self/maps') as f:
        libs = {line.split()[-1] for line in f if 'blas' in line.split()[-1]}
    return sorted(os.path.realpath(p) for p in libs)


groups = set(g for g in (os.environ.get('BENCH_ONLY') or ','.join(spec['groups'])).split(',') if g)
results = {'matmul': {}, 'threads': torch.get_num_threads(), 'version': torch.__version__}


def layer_fwd_bwd(layer, shape, seeds, **timing):
    x = random_floats(shape, seeds[0]).requires_grad_()
    gy = random_floats(shape, seeds[1])

    def step():
        x.grad = None
        layer.zero_grad()
        layer(x).backward(gy)
    return median_ms(step, **timing)


def steps_per_second(model, lr, X, y, timing):
    opt = torch.optim.SGD(model.parameters(), lr=lr)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(X), y).backward()
        opt.step()
    return 1000 / median_ms(step, **timing)


def mlp(cfg, with_bn):
    sizes = cfg['sizes']
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers += ([nn.BatchNorm1d(sizes[i + 1])] if with_bn else []) + [nn.Sigmoid()]
    X = random_floats([cfg['batch'], sizes[0]], 23)
    y = random_labels(cfg['batch'], sizes[-1], 24)
    return steps_per_second(nn.Sequential(*layers), cfg['lr'], X, y, spec['BN_MLP_TIMING'])


if 'matmul' in groups:
    for n in spec['MATMUL_SIZES']:
        a = random_floats([n, n], 1)
        b = random_floats([n, n], 2)
        with torch.no_grad():
            results['matmul'][str(n)] = median_ms(lambda: torch.matmul(a, b), warmup=5 if n >= 512 else 20)

if 'conv' in groups:
    c = spec['CONV']
    x = random_floats([c['n'], c['c'], c['h'], c['w']], 3)
    w = random_floats([c['cout'], c['c'], c['k'], c['k']], 4)
    gy = random_floats([c['n'], c['cout'], c['h'], c['w']], 5)
    pad = c['pad']
    from torch.nn.grad import conv2d_input, conv2d_weight

    def conv_step():
        with torch.no_grad():
            F.conv2d(x, w, padding=pad)
            conv2d_input(x.shape, w, gy, padding=pad)
            conv2d_weight(x, w.shape, gy, padding=pad)
    results['conv'] = median_ms(conv_step, warmup=3, minRuns=5)

if 'elementwise' in groups:
    n = spec['ELEMENTWISE_SIZE']
    ea, eb = random_floats([n], 6), random_floats([n], 7)
    with torch.no_grad():
        results['add'] = median_ms(lambda: torch.add(ea, eb), warmup=5, minRuns=15)
        results['exp'] = median_ms(lambda: torch.exp(ea), warmup=5, minRuns=15)

if 'bn' in groups:
    b = spec['BN2D']
    results['bn2d'] = layer_fwd_bwd(nn.BatchNorm2d(b['c'], eps=b['eps']), [b['n'], b['c'], b['h'], b['w']], [21, 22], warmup=3, minRuns=10)

if 'norms' in groups:
    ln = spec['LAYER_NORM']
    results['layerNorm'] = layer_fwd_bwd(nn.LayerNorm(ln['features'], eps=ln['eps']), [ln['rows'], ln['features']], [41, 42], warmup=3, minRuns=10)
    gn = spec['GROUP_NORM']
    results['groupNorm'] = layer_fwd_bwd(nn.GroupNorm(gn['groups'], gn['c'], eps=gn['eps']), [gn['n'], gn['c'], gn['h'], gn['w']], [43, 44], warmup=3, minRuns=10)

if 'mlp' in groups:
    results['bnMlp'] = mlp(spec['BN_MLP'], True)
    results['mlp'] = mlp(spec['MLP'], False)

if 'convnet' in groups:
    cn = spec['CONV_NET']
    c0, c1, c2 = cn['channels']
    s = cn['size']
    model = nn.Sequential(
        nn.Conv2d(c0, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * (s // 4) ** 2, cn['classes']),
    )
    X = random_floats([cn['batch'], c0, s, s], 25)
    y = random_labels(cn['batch'], cn['classes'], 26)
    results['convNet'] = steps_per_second(model, cn['lr'], X, y, spec['CONV_NET_TIMING'])

if 'vgg' in groups:
    v = spec['VGG']
    layers, c = [], 3
    for item in v['config']:
        if item == 'M':
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, item, 3, padding=1), nn.BatchNorm2d(item), nn.ReLU()]
            c = item
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, v['classes']))
    X = random_floats([v['batch'], 3, v['size'], v['size']], 27)
    y = random_labels(v['batch'], v['classes'], 28)
    results['vgg'] = steps_per_second(model, v['lr'], X, y, spec['VGG_TIMING'])

results['blas'] = blas_library()
sys.stdout.write(json.dumps(results))
