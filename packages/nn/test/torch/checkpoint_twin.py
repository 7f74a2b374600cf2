"""PyTorch's side of the checkpoint round trip (packages/nn/test/torch-checkpoint.test.ts).

The twins of the test's normlab models, and a safetensors reader and writer
in plain Python (the format is an 8-byte length, a JSON header and raw
little-endian bytes; no package beyond torch is needed).

  checkpoint_twin.py check MODEL CHECKPOINT IO
      loads the normlab-written CHECKPOINT into MODEL's twin with
      load_state_dict(strict=True), then checks the outputs on IO's input 'x'
      against normlab's: 'eval' (eval mode), then 'train' (train mode, batch
      statistics) and the state after that forward ('after.<key>').
  checkpoint_twin.py write MODEL SEED CHECKPOINT IO
      builds MODEL's twin from SEED, moves its running statistics with two
      training forwards, writes its state_dict to CHECKPOINT and, for an input
      'x', the outputs 'eval', 'train' and the state after the train forward
      to IO, for normlab to check.

  checkpoint_twin.py optim-check MODEL OPT CHECKPOINT OPTSTATE IO
      loads the model as `check` does and OPT's state (a normlab-written
      optimizer file: tensors 'state.<i>.<name>', JSON metadata 'param_groups'
      and 'state_numbers') with optimizer.load_state_dict, sets the gradients
      IO's 'grad.<key>', takes one step, and checks the parameters against
      IO's 'after.<key>'.
  checkpoint_twin.py optim-write MODEL OPT SEED CHECKPOINT OPTSTATE IO
      trains MODEL's twin three steps with OPT on random gradients, writes its
      state_dict and the optimizer's state, then the gradients of one more
      step and the parameters after it to IO.

Prints one JSON line with the largest differences; exits 1 on a mismatch.
"""
import json
import struct
import sys

import torch
from torch import nn

DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64, 'I32': torch.int32}
CODES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    header.pop('__metadata__', None)
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        begin, end = info['data_offsets']
        dtype = DTYPES[info['dtype']]
        flat = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        out[name] = flat.reshape(info['shape']).clone()
    return out


def read_metadata(path):
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        return json.loads(f.read(n)).get('__metadata__', {})


def write_safetensors(path, tensors, metadata=None):
    header = {} if metadata is None else {'__metadata__': metadata}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {'dtype': CODES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(chunks))


OPTIMIZERS = {
    'sgd': lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    'adam': lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.8, 0.95), weight_decay=1e-3, amsgrad=True),
    'rmsprop': lambda ps: torch.optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True),
    'adagrad': lambda ps: torch.optim.Adagrad(ps, lr=0.1, lr_decay=1e-3, initial_accumulator_value=0.1),
}


def optimizer_state(path):
    """A normlab-written optimizer file as optimizer.state_dict() has it."""
    tensors = read_safetensors(path)
    meta = read_metadata(path)
    state = {}
    for key, t in tensors.items():
        _, i, name = key.split('.', 2)
        state.setdefault(int(i), {})[name] = t
    for i, numbers in json.loads(meta['state_numbers']).items():
        state.setdefault(int(i), {}).update(numbers)
    return {'state': state, 'param_groups': json.loads(meta['param_groups'])}


def write_optimizer_state(path, sd):
    tensors = {}
    numbers = {}
    for i, s in sd['state'].items():
        for name, v in s.items():
            if torch.is_tensor(v) and v.dim() > 0:
                tensors[f'state.{i}.{name}'] = v
            else:
                numbers.setdefault(str(i), {})[name] = float(v) if torch.is_tensor(v) else v
    write_safetensors(path, tensors, {'param_groups': json.dumps(sd['param_groups']), 'state_numbers': json.dumps(numbers)})


def optim_check(model, opt, checkpoint, optstate, io):
    net = twin(model)
    net.load_state_dict(read_safetensors(checkpoint), strict=True)
    # Built with other options: load_state_dict must bring normlab's.
    optimizer = {'sgd': torch.optim.SGD, 'adam': torch.optim.Adam, 'rmsprop': torch.optim.RMSprop, 'adagrad': torch.optim.Adagrad}[opt](net.parameters(), lr=0.5)
    optimizer.load_state_dict(optimizer_state(optstate))
    ref = read_safetensors(io)
    for name, p in net.named_parameters():
        p.grad = ref[f'grad.{name}'].clone()
    optimizer.step()
    diffs = {name: max_diff(p.detach(), ref[f'after.{name}']) for name, p in net.named_parameters()}
    ok = all(d <= 1e-5 for d in diffs.values())
    print(json.dumps({'ok': ok, 'diffs': diffs}))
    return 0 if ok else 1


def optim_write(model, opt, seed, checkpoint, optstate, io):
    torch.manual_seed(seed)
    net = twin(model)
    optimizer = OPTIMIZERS[opt](net.parameters())
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(3):
        for p in net.parameters():
            p.grad = torch.randn(p.shape, generator=g)
        optimizer.step()
    write_safetensors(checkpoint, net.state_dict())
    write_optimizer_state(optstate, optimizer.state_dict())
    grads = {}
    for name, p in net.named_parameters():
        p.grad = torch.randn(p.shape, generator=g)
        grads[f'grad.{name}'] = p.grad.clone()
    optimizer.step()
    after = {f'after.{name}': p.detach().clone() for name, p in net.named_parameters()}
    write_safetensors(io, {**grads, **after})
    print(json.dumps({'ok': True, 'param_groups': optimizer.state_dict()['param_groups']}))
    return 0


def twin(model):
    """The PyTorch model with the same layers, in the same order, as the test's normlab model."""
    if model == 'mlp-bn':
        return nn.Sequential(nn.Linear(20, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
    if model == 'conv-bn-gn':
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
        )
    raise SystemExit(f'checkpoint_twin: unknown model {model!r}')


def input_for(model, generator):
    shape = (16, 20) if model == 'mlp-bn' else (8, 3, 12, 12)
    return torch.randn(*shape, generator=generator)


def outputs(net, x):
    """eval output, train output, and the state after the train forward."""
    with torch.no_grad():
        net.eval()
        ev = net(x)
        net.train()
        tr = net(x)
    after = {f'after.{k}': v for k, v in net.state_dict().items()}
    return ev, tr, after


def max_diff(a, b):
    if a.shape != b.shape:
        raise SystemExit(f'checkpoint_twin: shape {list(a.shape)} against {list(b.shape)}')
    return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0


def check(model, checkpoint, io):
    net = twin(model)
    net.load_state_dict(read_safetensors(checkpoint), strict=True)
    ref = read_safetensors(io)
    ev, tr, after = outputs(net, ref['x'])
    diffs = {'eval': max_diff(ev, ref['eval']), 'train': max_diff(tr, ref['train'])}
    for k, v in after.items():
        diffs[k] = max_diff(v, ref[k])
    ok = all(d <= 1e-4 for d in diffs.values())
    print(json.dumps({'ok': ok, 'diffs': diffs}))
    return 0 if ok else 1


def write(model, seed, checkpoint, io):
    torch.manual_seed(seed)
    net = twin(model)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        # Non-trivial affine parameters and running statistics: two training forwards on shifted data.
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.5, 0.5, generator=g)
        net.train()
        for _ in range(2):
            net(input_for(model, g) * 2 + 0.5)
    write_safetensors(checkpoint, net.state_dict())
    x = input_for(model, g)
    ev, tr, after = outputs(net, x)
    write_safetensors(io, {'x': x, 'eval': ev, 'train': tr, **after})
    print(json.dumps({'ok': True, 'keys': list(net.state_dict().keys())}))
    return 0


if __name__ == '__main__':
    args = sys.argv[1:]
    if len(args) == 4 and args[0] == 'check':
        sys.exit(check(args[1], args[2], args[3]))
    if len(args) == 5 and args[0] == 'write':
        sys.exit(write(args[1], int(args[2]), args[3], args[4]))
    if len(args) == 6 and args[0] == 'optim-check':
        sys.exit(optim_check(*args[1:]))
    if len(args) == 7 and args[0] == 'optim-write':
        sys.exit(optim_write(args[1], args[2], int(args[3]), *args[4:]))
    raise SystemExit(__doc__)
