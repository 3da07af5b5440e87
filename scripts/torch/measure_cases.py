"""Plain-PyTorch measurements behind the labels of the PyTorch cases in test/cases/cases.json.

No project code: this imports each case's model.py the way DESIGN.md ("PyTorch model files")
says the trainer does (the only / last no-argument nn.Module subclass; INPUT_SHAPE, else the
first Conv2d's in_channels: 1 → 1x28x28 Fashion-MNIST, 3 → 3x32x32 synthetic; NUM_CLASSES,
else the last Linear; a literal torch.optim.X(..., lr=...) in the file, else Adam 1e-3), trains
it for the eval's steps (60, seed 1, batch 32) and prints, per case:

  loss start → end (5-step windows), per-layer gradient RMS (weights only, as StepStats) and the
  median first/last ratio, worst dead fraction (ReLU channels never positive over the batch),
  worst saturated fraction (|tanh| > 0.99, sigmoid outside [0.01, 0.99]), non-finite steps,
  update/weight ratios, init scale over He/Glorot, and the symptoms that follow from the
  thresholds of src/shared/rules/thresholds.ts, with the first layer that shows each.

For problem cases it also trains the same net with the fixes of FIXES (ReLU for sigmoid/tanh,
BatchNorm after every conv, PyTorch's default init, a sane learning rate), to show the fixed net
learns. Data: the shipped Fashion-MNIST subset for 1x28x28 / 10 classes, else a port of the
engine's synthetic set (src/engine/data/synthetic.ts, same mulberry32 generator, same seed) and
of its batch sampler (src/engine/train/batches.ts), so the batches match the TF.js runs.

  /usr/bin/python3 scripts/torch/measure_cases.py [--only ID,ID] [--no-fixes] [--json] [--write] [--layers]
  /usr/bin/python3 scripts/torch/measure_cases.py --file samples/pytorch/exploding_large_init.py

--write stores the one-line summary in each PyTorch case's `measured` field of cases.json.
"""
import argparse
import gzip
import importlib.util
import inspect
import json
import math
import os
import re
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASES = os.path.join(ROOT, 'test', 'cases')
FASHION = os.path.join(ROOT, 'data', 'fashion-mnist')

# Thresholds of src/shared/rules/thresholds.ts (the symptoms' definitions).
WINDOW = 5
CHANCE_BAND = 0.1
MIN_IMPROVEMENT = 0.1
DIVERGING_FACTOR = 3
VANISHING_RATIO = 1e-3
VANISHING_RMS = 1e-4
EXPLODING_RATIO = 70
EXPLODING_GROWTH = 1e3
EXPLODING_GROWTH_MIN_RMS = 1
EXPLODING_RMS = 10
DEAD = 0.7
SATURATED = 0.5
PERSISTENT = 0.5
INIT_HIGH = 2.5
INIT_LOW = 0.1
UPDATE_HIGH = 0.1
UPDATE_LOW = 1e-5
OSC_AMPLITUDE = 0.35
OSC_FLIPS = 0.4

# Fixed variants of the problem cases: what a user's fix would change (default-init: PyTorch's own
# reset_parameters(); he-init / glorot-init: kaiming_normal_ / xavier_uniform_ on the convs, zero bias;
# bn: a BatchNorm2d after every Conv2d; relu: sigmoid/tanh computed as ReLU).
FIXES = {
    'vanishing-sigmoid10-pt': [['relu'], ['relu', 'he-init'], ['bn']],
    'vanishing-sigmoid7-functional-pt': [['relu'], ['bn']],
    'vanishing-sigmoid-block-pt': [['relu'], ['relu', 'he-init'], ['bn']],
    'vanishing-tanh-small-init-pt': [['glorot-init'], ['relu', 'he-init'], ['bn']],
    'exploding-large-init-pt': [['he-init'], ['bn']],
    'exploding-high-lr-pt': [['lr=0.05']],
    'non-finite-high-lr-pt': [['lr=0.05']],
    'dying-relu-bias-pt': [['default-init'], ['he-init']],
    'dying-relu-high-lr-pt': [['lr=0.1'], ['opt=Adam', 'lr=0.001']],
    'saturated-tanh-large-init-pt': [['glorot-init'], ['relu', 'he-init'], ['bn']],
    'poor-init-tiny-pt': [['he-init'], ['bn']],
    'lr-too-low-pt': [['lr=0.001']],
    'lr-too-high-adam-pt': [['lr=0.001']],
    'oscillating-tanh-pt': [['lr=0.1']],
    'slow-sgd-pt': [['lr=0.1'], ['opt=Adam', 'lr=0.001']],
}


# ──── data ────

def mulberry32(seed):
    state = [seed & 0xFFFFFFFF]

    def imul(a, b):
        return (a * b) & 0xFFFFFFFF

    def nxt():
        state[0] = (state[0] + 0x6D2B79F5) & 0xFFFFFFFF
        t = state[0]
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    return nxt


def synthetic(shape, classes, seed):
    """src/engine/data/synthetic.ts, value for value (float64 here, float32 there)."""
    random = mulberry32(seed)
    spare = [None]

    def gaussian():
        if spare[0] is not None:
            v, spare[0] = spare[0], None
            return v
        radius = math.sqrt(-2 * math.log(1 - random()))
        angle = 2 * math.pi * random()
        spare[0] = radius * math.sin(angle)
        return radius * math.cos(angle)

    size = 1
    for d in shape:
        size *= d
    # index grids per axis, row-major
    grids = torch.meshgrid(*[torch.arange(d, dtype=torch.float64) for d in shape], indexing='ij')
    prototypes = []
    for _ in range(classes):
        pattern = torch.zeros(shape, dtype=torch.float64)
        for _wave in range(4):
            cycles = [2 * (2 * random() - 1) for _ in shape]
            phase = 2 * math.pi * random()
            weight = gaussian()
            angle = torch.full(shape, phase, dtype=torch.float64)
            for axis in range(len(shape) - 1, -1, -1):
                angle = angle + 2 * math.pi * cycles[axis] * grids[axis] / shape[axis]
            pattern += weight * torch.sin(angle)
        flat = pattern.flatten()
        std = flat.std(unbiased=False).item() or 1
        flat = (flat - flat.mean()) / std
        flat = flat + 0.3 * gaussian()
        prototypes.append(flat)
    n = max(classes * 8, min(1024, (16 * 1024 * 1024) // size))
    x = torch.empty(n, size, dtype=torch.float64)
    y = torch.empty(n, dtype=torch.long)
    for e in range(n):
        label = e % classes
        amplitude = 1 + 0.3 * (2 * random() - 1)
        noise = torch.tensor([gaussian() for _ in range(size)], dtype=torch.float64)
        x[e] = amplitude * prototypes[label] + 0.8 * noise
        y[e] = label
    return x.float().view(n, *shape), y


def read_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack('>' + 'I' * dims, data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).view(*shape)


def fashion_mnist():
    x = read_idx(os.path.join(FASHION, 'train-images-idx3-ubyte.gz')).float().div(255).unsqueeze(1)
    y = read_idx(os.path.join(FASHION, 'train-labels-idx1-ubyte.gz')).long()
    return x, y


class Sampler:
    """src/engine/train/batches.ts: a seeded shuffle per epoch."""

    def __init__(self, x, y, batch, seed):
        self.x, self.y, self.batch = x, y, batch
        self.random = mulberry32(seed)
        self.order = list(range(len(y)))
        self.position = len(y)

    def next(self):
        rows = []
        for _ in range(min(self.batch, len(self.y))):
            if self.position >= len(self.y):
                for i in range(len(self.order) - 1, 0, -1):
                    j = int(self.random() * (i + 1))
                    self.order[i], self.order[j] = self.order[j], self.order[i]
                self.position = 0
            rows.append(self.order[self.position])
            self.position += 1
        index = torch.tensor(rows)
        return self.x[index], self.y[index]


# ──── the model file, as DESIGN.md picks it ────

def load_module(path):
    spec = importlib.util.spec_from_file_location('gradient_lens_case', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def needs_no_arguments(cls):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return all(p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


def pick_entry(module):
    classes = [c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, nn.Module) and c.__module__ == module.__name__]
    ready = [c for c in classes if needs_no_arguments(c)]
    if not ready:
        raise SystemExit(f'{module.__file__}: no nn.Module subclass without constructor arguments')
    return ready[-1]


def literal_optimizer(text):
    for match in re.finditer(r'torch\.optim\.(\w+)\s*\(', text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {'(': 1, ')': -1}.get(text[i], 0)
            i += 1
        lr = re.search(r'\blr\s*=\s*([0-9][0-9.]*(?:[eE][-+]?[0-9]+)?)', text[match.end():i])
        if lr:
            return match.group(1), float(lr.group(1))
    return 'Adam', 1e-3


def input_shape(module, model):
    if hasattr(module, 'INPUT_SHAPE'):
        return tuple(module.INPUT_SHAPE)
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    return {1: (1, 28, 28), 3: (3, 32, 32)}[first.in_channels]


def num_classes(module, model):
    if hasattr(module, 'NUM_CLASSES'):
        return module.NUM_CLASSES
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features


# ──── activation capture: functional calls and modules alike (nn.ReLU → F.relu, nn.Sigmoid → torch.sigmoid) ────

class Capture:
    def __init__(self):
        self.owner = None  # the last Conv2d/Linear run: activations attach to it, as the engine's TorchLayer.activation
        self.stats = {}    # owner → (kind, dead, saturated) of this step's batch
        self.kinds = {}
        self.relu_fix = False
        self.enabled = True

    def record(self, kind, out):
        if not self.enabled or self.owner is None or self.owner in self.stats:
            return
        with torch.no_grad():
            o = out.detach()
            dead = sat = None
            if kind == 'relu':
                per = o.transpose(0, 1).reshape(o.shape[1], -1) if o.dim() > 2 else o.t()
                dead = (~(per.max(dim=1).values > 0)).float().mean().item()
            elif kind == 'tanh':
                sat = (o.abs() > 0.99).float().mean().item()
            elif kind == 'sigmoid':
                sat = ((o < 0.01) | (o > 0.99)).float().mean().item()
        self.stats[self.owner] = (kind, dead, sat)
        self.kinds[self.owner] = kind


CAPTURE = Capture()
_orig = {
    'F.relu': F.relu, 'torch.relu': torch.relu, 'torch.sigmoid': torch.sigmoid, 'torch.tanh': torch.tanh,
    'F.sigmoid': F.sigmoid, 'F.tanh': F.tanh,
}


def _wrap(name, kind):
    original = _orig[name]

    def wrapper(x, *args, **kwargs):
        if CAPTURE.relu_fix and kind in ('sigmoid', 'tanh'):
            out, k = _orig['F.relu'](x), 'relu'
        else:
            out, k = original(x, *args, **kwargs), kind
        CAPTURE.record(k, out)
        return out

    return wrapper


F.relu = _wrap('F.relu', 'relu')
torch.relu = _wrap('torch.relu', 'relu')
torch.sigmoid = _wrap('torch.sigmoid', 'sigmoid')
torch.tanh = _wrap('torch.tanh', 'tanh')
F.sigmoid = _wrap('F.sigmoid', 'sigmoid')
F.tanh = _wrap('F.tanh', 'tanh')


# ──── training ────

def weighted(model):
    """Instrumented layers in named_modules() order: Conv2d, Linear, BatchNorm2d (gamma)."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)) and getattr(m, 'weight', None) is not None]


def add_batch_norm(model):
    for parent in list(model.modules()):
        for name, child in list(parent._modules.items()):
            if isinstance(child, nn.Conv2d):
                parent._modules[name] = nn.Sequential(child, nn.BatchNorm2d(child.out_channels))


def intended_scale(name, m, kinds):
    fan_in = m.weight[0].numel()
    fan_out = m.weight.shape[0] * (m.weight[0][0].numel() if m.weight.dim() > 2 else 1)
    if kinds.get(name) == 'relu':
        return math.sqrt(2 / fan_in)
    if kinds.get(name) == 'sigmoid':
        return math.sqrt(1 / fan_in)  # LeCun, as src/shared/rules/activationRules.ts
    return math.sqrt(2 / (fan_in + fan_out))


def train(path, steps, batch, seed, fixes=(), data_cache={}):
    text = open(path, encoding='utf-8').read()
    module = load_module(path)
    entry = pick_entry(module)
    torch.manual_seed(seed)
    model = entry()
    shape, classes = input_shape(module, model), None
    classes = num_classes(module, model)
    optimizer_name, lr = literal_optimizer(text)
    CAPTURE.relu_fix = 'relu' in fixes
    for fix in fixes:
        if fix in ('default-init', 'he-init', 'glorot-init'):
            torch.manual_seed(seed)
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    m.reset_parameters()
                    if fix == 'he-init' and isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
                        nn.init.zeros_(m.bias)
                    elif fix == 'glorot-init' and isinstance(m, nn.Conv2d):
                        nn.init.xavier_uniform_(m.weight)
                        nn.init.zeros_(m.bias)
        elif fix == 'bn':
            add_batch_norm(model)
        elif fix.startswith('lr='):
            lr = float(fix[3:])
        elif fix.startswith('opt='):
            optimizer_name = fix[4:]
    key = (shape, classes)
    if key not in data_cache:
        data_cache[key] = fashion_mnist() if shape == (1, 28, 28) and classes == 10 else synthetic(list(shape), classes, seed)
    x, y = data_cache[key]
    data_name = 'fashion-mnist' if shape == (1, 28, 28) and classes == 10 else 'synthetic'
    sampler = Sampler(x, y, batch, seed)

    layers = weighted(model)
    names = {m: n for n, m in layers}
    order = []

    def owner_hook(m, inp, out):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            CAPTURE.owner = names[m]
        order.append(m)

    for _, m in layers:
        m.register_forward_hook(owner_hook)
    # A final Softmax is taken as logits (its input), as DESIGN.md says the trainer does; a final
    # LogSoftmax needs nothing: cross-entropy on log-probabilities equals it on the logits.
    tail = []
    handles = [m.register_forward_hook(lambda m, i, o: tail.append(m)) for m in model.modules() if not list(m.children())]
    CAPTURE.enabled = False
    model.eval()
    with torch.no_grad():
        model(x[:2])
    model.train()
    CAPTURE.enabled = True
    for h in handles:
        h.remove()
    final = type(tail[-1]).__name__ if tail else None
    if final == 'Softmax':
        tail[-1].register_forward_hook(lambda m, i, o: i[0])
    exec_order = []
    for m in order:
        if names[m] not in exec_order:
            exec_order.append(names[m])
    layer_names = exec_order  # the forward's order (named_modules() order agrees in these cases)
    module_of = dict((n, m) for n, m in layers)

    optimizer = getattr(torch.optim, optimizer_name)(model.parameters(), lr=lr)
    history = []
    init = {}
    for step in range(steps):
        xb, yb = sampler.next()
        CAPTURE.owner, CAPTURE.stats = None, {}
        before = {n: module_of[n].weight.detach().clone() for n in layer_names}
        optimizer.zero_grad()
        out = model(xb)
        loss = F.cross_entropy(out, yb)
        loss.backward()
        record = {'loss': loss.item(), 'layers': {}}
        for n in layer_names:
            g = module_of[n].weight.grad
            if g is None:
                g = torch.zeros_like(module_of[n].weight)
            nonfinite = int((~torch.isfinite(g)).sum().item())
            rms = g.pow(2).mean().sqrt().item()
            kind, dead, sat = CAPTURE.stats.get(n, (None, None, None))
            record['layers'][n] = {'rms': rms, 'nonfinite': nonfinite, 'dead': dead, 'sat': sat}
        optimizer.step()
        for n in layer_names:
            w = module_of[n].weight.detach()
            wn = w.norm().item()
            record['layers'][n]['update'] = (w - before[n]).norm().item() / wn if wn > 0 else 0.0
            if step == 0 and isinstance(module_of[n], (nn.Conv2d, nn.Linear)):
                init[n] = before[n].pow(2).mean().sqrt().item() / intended_scale(n, module_of[n], CAPTURE.kinds)
        history.append(record)
    return {
        'entry': entry.__name__, 'shape': shape, 'classes': classes, 'optimizer': optimizer_name, 'lr': lr,
        'data': data_name, 'final': final, 'layers': layer_names, 'history': history, 'init': init,
        'kinds': dict(CAPTURE.kinds),
    }


# ──── symptoms (the definitions of the rules' thresholds) ────

def median(values):
    values = sorted(values)
    if not values:
        return float('nan')
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def finite(x):
    return x is not None and math.isfinite(x)


def analyse(run):
    h, layers = run['history'], run['layers']
    chance = math.log(run['classes'])
    losses = [s['loss'] for s in h]
    start = sum(losses[:WINDOW]) / WINDOW
    end = sum(losses[-WINDOW:]) / WINDOW
    nonfinite_steps = [i for i, s in enumerate(h) if not finite(s['loss']) or any(l['nonfinite'] or not finite(l['rms']) for l in s['layers'].values())]
    fin = [s for i, s in enumerate(h) if i not in nonfinite_steps]
    first, last = layers[0], layers[-1]
    # BatchNorm gammas are instrumented but the ratio compares the first and last weighted layers.
    # Steps where the last layer's gradient is exactly 0 (a dead net) have no ratio: NaN when none has.
    ratios = {}
    for n in layers[:-1]:
        ratios[n] = median([s['layers'][n]['rms'] / s['layers'][last]['rms'] for s in fin if s['layers'][last]['rms'] > 0])
    rms_med = {n: median([s['layers'][n]['rms'] for s in fin]) for n in layers}
    peak = {n: max([s['layers'][n]['rms'] for s in fin], default=float('nan')) for n in layers}
    start_rms = {n: fin[0]['layers'][n]['rms'] if fin else float('nan') for n in layers}
    dead = {n: [s['layers'][n]['dead'] for s in h if s['layers'][n]['dead'] is not None] for n in layers}
    sat = {n: [s['layers'][n]['sat'] for s in h if s['layers'][n]['sat'] is not None] for n in layers}
    persistent = lambda xs, t: bool(xs) and sum(1 for v in xs if v >= t) >= PERSISTENT * len(xs)
    update = {n: median([s['layers'][n]['update'] for s in fin if finite(s['layers'][n]['update'])]) for n in layers}
    early_update = {n: median([s['layers'][n]['update'] for s in h[:WINDOW] if finite(s['layers'][n]['update'])]) for n in layers}
    improved = finite(end) and finite(start) and (start - end) >= MIN_IMPROVEMENT * start
    stuck = finite(end) and (abs(end - chance) <= CHANCE_BAND * chance or not improved)
    diverging = not finite(end) or end > DIVERGING_FACTOR * chance
    second = [l for l in losses[len(losses) // 2:] if finite(l)]
    deltas = [b - a for a, b in zip(second, second[1:])]
    flips = sum(1 for a, b in zip(deltas, deltas[1:]) if a * b < 0) / max(1, len(deltas) - 1)
    amplitude = median([abs(d) for d in deltas]) / chance if deltas else 0

    symptoms = {}
    if nonfinite_steps:
        s = h[nonfinite_steps[0]]
        where = next((n for n in layers if s['layers'][n]['nonfinite'] or not finite(s['layers'][n]['rms'])), None)
        symptoms['non-finite'] = (where, f'step {nonfinite_steps[0]}')
    vanished = [n for n in layers[:-1] if finite(ratios[n]) and ratios[n] < VANISHING_RATIO and rms_med[n] < VANISHING_RMS]
    if vanished and not diverging:
        symptoms['vanishing-gradient'] = (vanished[0], f'{vanished[0]} median ratio {ratios[vanished[0]]:.2g}, {len(vanished)} layers below 1e-3')
    exploding = [n for n in layers if (start_rms[n] > 0 and peak[n] / start_rms[n] >= EXPLODING_GROWTH and peak[n] >= EXPLODING_GROWTH_MIN_RMS) or peak[n] >= EXPLODING_RMS]
    if exploding:
        n = exploding[0]
        symptoms['exploding-gradient'] = (n, f'{n} peak RMS {peak[n]:.3g} (start {start_rms[n]:.3g})')
    elif len(layers) > 1 and median([s['layers'][first]['rms'] / s['layers'][last]['rms'] for s in fin if s['layers'][last]['rms'] > 0] or [0]) > EXPLODING_RATIO:
        symptoms['exploding-gradient'] = (first, 'first/last ratio > 70')
    dying = [n for n in layers if persistent(dead[n], DEAD)]
    if dying:
        symptoms['dying-relu'] = (dying[0], f'{dying[0]} dead {median(dead[dying[0]]):.2f} (median)')
    saturated = [n for n in layers if persistent(sat[n], SATURATED)]
    if saturated:
        symptoms['saturated-activation'] = (saturated[0], f'{saturated[0]} saturated {median(sat[saturated[0]]):.2f}')
    poor = [n for n in layers if n in run['init'] and not (INIT_LOW <= run['init'][n] <= INIT_HIGH)]
    if poor:
        symptoms['poor-initialization'] = (poor[0], f'{poor[0]} weight RMS {run["init"][poor[0]]:.3g}x He/Glorot')
    high = [n for n in layers if finite(early_update[n]) and early_update[n] > UPDATE_HIGH]
    if high:
        n = max(high, key=lambda n: early_update[n])
        symptoms['learning-rate-too-high'] = (n, f'{n} update/weight {early_update[n]:.2g} over the first {WINDOW} steps')
    if stuck and all(not finite(update[n]) or update[n] < UPDATE_LOW for n in layers):
        symptoms['learning-rate-too-low'] = (None, f'median update/weight <= {max(update.values()):.2g}')
    if amplitude > OSC_AMPLITUDE and flips >= OSC_FLIPS:
        symptoms['oscillating-loss'] = (None, f'median |dloss| {amplitude:.2f} ln C, flips {flips:.2f}')
    if stuck and not diverging and not nonfinite_steps:
        symptoms['slow-convergence'] = (None, f'loss fell {100 * (start - end) / start:.0f} %')
    last_step = h[-1]['layers']
    last_ratio = last_step[first]['rms'] / last_step[last]['rms'] if last_step[last]['rms'] > 0 else float('nan')
    worst_dead = max((max(v) for v in dead.values() if v), default=0)
    worst_sat = max((max(v) for v in sat.values() if v), default=0)
    return {
        'lossStart': losses[0], 'lossEnd': losses[-1], 'windowStart': start, 'windowEnd': end, 'chance': chance,
        'firstLastMedian': ratios.get(first, float('nan')), 'firstLastAtEnd': last_ratio,
        'rmsMedian': rms_med, 'ratios': ratios, 'peak': peak, 'worstDead': worst_dead, 'worstSaturated': worst_sat,
        'nonFiniteSteps': len(nonfinite_steps), 'firstNonFinite': nonfinite_steps[0] if nonfinite_steps else None,
        'update': update, 'earlyUpdate': early_update, 'symptoms': symptoms, 'improved': improved, 'diverging': diverging,
    }


def g(x):
    return 'NaN' if x is None or not math.isfinite(x) else f'{x:.3g}'


def summary(run, a):
    sym = '; '.join(f'{code}{f" ({where})" if where else ""}' for code, (where, _) in a['symptoms'].items()) or 'none'
    nf = f'; non-finite from step {a["firstNonFinite"]}' if a['firstNonFinite'] is not None else ''
    shape = 'x'.join(map(str, run['shape']))
    return (f'{run["optimizer"].lower()} lr {g(run["lr"])}, 60 steps on {run["data"]} {shape}: loss {g(a["lossStart"])} → {g(a["lossEnd"])} '
            f'(5-step means {g(a["windowStart"])} → {g(a["windowEnd"])}, ln C {g(a["chance"])}); '
            f'first/last gradient RMS {g(a["firstLastMedian"])} (median), {g(a["firstLastAtEnd"])} (last step); '
            f'max dead fraction {g(a["worstDead"])}; max saturated {g(a["worstSaturated"])}{nf}; symptoms: {sym}')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--only')
    parser.add_argument('--no-fixes', action='store_true')
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--write', action='store_true')
    parser.add_argument('--layers', action='store_true', help='print the per-layer table too')
    parser.add_argument('--file', action='append', help='measure this model file (e.g. a sample) instead of the cases')
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.file:
        for path in args.file:
            run = train(path, 60, 32, 1)
            a = analyse(run)
            print(f'{path}: torch {torch.__version__}: ' + summary(run, a))
            for code, (where, why) in a['symptoms'].items():
                print(f'    {code}: {why}')
        return
    manifest = json.load(open(os.path.join(CASES, 'cases.json'), encoding='utf-8'))
    defaults = manifest['defaults']
    only = args.only.split(',') if args.only else None
    results = {}
    for entry in manifest['cases']:
        if entry.get('format') != 'pytorch' or (only and entry['id'] not in only):
            continue
        path = os.path.join(CASES, entry['id'], 'model.py')
        run = train(path, defaults['steps'], defaults['batchSize'], defaults['seed'])
        a = analyse(run)
        line = f'torch {torch.__version__}: ' + summary(run, a)
        fixed = []
        if not args.no_fixes and not entry.get('healthy'):
            for fixes in FIXES.get(entry['id'], []):
                fr = train(path, defaults['steps'], defaults['batchSize'], defaults['seed'], tuple(fixes))
                fa = analyse(fr)
                fixed.append(f'fixed ({"+".join(fixes)}): loss {g(fa["windowStart"])} → {g(fa["windowEnd"])}, first/last {g(fa["firstLastMedian"])}, '
                             f'symptoms {", ".join(fa["symptoms"]) or "none"}')
        if fixed:
            line += '. ' + '. '.join(fixed)
        results[entry['id']] = {'summary': line, 'symptoms': {k: v[0] for k, v in a['symptoms'].items()}}
        label = 'healthy' if entry.get('healthy') else entry['primary']
        if args.json:
            continue
        print(f'{entry["id"]} [{label}; layer {entry.get("problemLayer", "-")}]: {line}', flush=True)
        for code, (where, why) in a['symptoms'].items():
            print(f'    {code}: {why}')
        if args.layers:
            for n in run['layers']:
                print(f'    {n:24s} {run["kinds"].get(n, "-"):8s} rms med {g(a["rmsMedian"][n]):>9s} peak {g(a["peak"][n]):>9s} '
                      f'ratio {g(a["ratios"].get(n, 1.0)):>9s} update {g(a["update"][n]):>9s} early {g(a["earlyUpdate"][n]):>9s} init {g(run["init"].get(n)):>6s}')
    if args.json:
        print(json.dumps(results, indent=2))
    if args.write:
        # Textual replacement of each case's "measured" string, so the rest of the file keeps
        # JSON.stringify's formatting (numbers such as 0.000001 stay as written).
        file = os.path.join(CASES, 'cases.json')
        text = open(file, encoding='utf-8').read()
        for case_id, result in results.items():
            at = text.index(f'"id": "{case_id}"')
            following = text.find('"id": "', at + 1)
            following = len(text) if following < 0 else following
            match = re.compile(r'"measured": ("(?:[^"\\]|\\.)*")').search(text, at, following)
            if not match:
                print(f'{case_id}: no "measured" field to replace', file=sys.stderr)
                continue
            value = json.dumps('plain PyTorch (scripts/torch/measure_cases.py), ' + result['summary'], ensure_ascii=False)
            text = text[:match.start(1)] + value + text[match.end(1):]
        with open(file, 'w', encoding='utf-8') as f:
            f.write(text)

if __name__ == '__main__':
    main()
