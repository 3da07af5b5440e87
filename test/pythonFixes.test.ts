import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FixContext } from '../src/shared/diagnosis';
import type { Finding } from '../src/shared/findings';
import type { TorchLayer, TorchOptimizerSite } from '../src/shared/pytorchProtocol';
import type { Range } from '../src/shared/textRange';
import { applyEdits, planFixes } from '../src/shared/fixes/index';
import {
  planPyAddBatchNormalization,
  planPyChangeInitializer,
  planPyChangeOptimizer,
  planPyLearningRate,
  planPyUseLeakyRelu,
  planPyUseRelu,
} from '../src/shared/fixes/python/pythonFixes';
import { PythonSource } from '../src/shared/fixes/python/pythonSource';

// The Python fix planners on real PyTorch snippets: text in, edits out. Layers are described as
// the trainer describes them (pytorchProtocol's TorchLayer, ranges from `ast`), located here by
// searching the snippet. Where Debian's torch is installed, every edited file is also imported,
// built and trained one step.

const MODEL = '/work/model.py';
const TORCH_PYTHON = '/usr/bin/python3';

function rangeOf(text: string, needle: string, nth = 0): Range {
  let start = -1;
  for (let k = 0; k <= nth; k++) {
    start = text.indexOf(needle, start + 1);
    if (start < 0) throw new Error(`"${needle}" #${nth} not in the snippet`);
  }
  const source = new PythonSource(text);
  const open = text.indexOf('(', start + needle.length - 1);
  const end = needle.includes('(') || open >= 0 ? source.closingBracket(open) + 1 : start + needle.length;
  return source.range(start, end);
}

function statementOf(text: string, needle: string): Range {
  const call = rangeOf(text, needle);
  const source = new PythonSource(text);
  const lineStart = source.starts[call.start.line];
  const indent = /^[ \t]*/.exec(source.lineText(call.start.line))![0].length;
  return { start: source.position(lineStart + indent), end: call.end };
}

function layer(partial: Partial<TorchLayer> & { name: string; className: string }): TorchLayer {
  return { instrumented: /Conv|Linear|BatchNorm/.test(partial.className), paramCount: 10, ...partial };
}

function context(text: string, layers: TorchLayer[], extra: { entry?: string; optimizerSite?: TorchOptimizerSite; learningRate?: number; optimizer?: FixContext['options']['optimizer'] } = {}): FixContext {
  return {
    text,
    format: 'pytorch',
    layers: [],
    options: { steps: 100, batchSize: 32, learningRate: extra.learningRate ?? 0.001, optimizer: extra.optimizer ?? 'adam', loss: 'cross_entropy', data: 'synthetic', seed: 1, backend: 'torch' },
    torch: { modelPath: MODEL, entry: extra.entry ?? 'Net', layers, optimizerSite: extra.optimizerSite },
  };
}

/** Python files the tests edited, checked together at the end (one interpreter start). */
const edited: Array<{ name: string; text: string; entry: string; input: number[] }> = [];

function check(name: string, text: string, entry: string, input: number[]): void {
  edited.push({ name, text, entry, input });
}

// ──── a Sequential sigmoid net ────

const SEQUENTIAL = `import torch
import torch.nn as nn

INPUT_SHAPE = (1, 8, 8)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),  # first
            nn.Sigmoid(),
            nn.Conv2d(4, 4, 3, padding=1),
            nn.Tanh(),
        )
        self.head = nn.Linear(4 * 8 * 8, 10)
        self.out = nn.Sigmoid()

    def forward(self, x):
        return self.out(self.head(self.features(x).flatten(1)))
`;

function sequentialLayers(text = SEQUENTIAL): TorchLayer[] {
  return [
    layer({ name: 'features.0', className: 'Conv2d', site: { file: MODEL, range: rangeOf(text, 'nn.Conv2d('), container: 'sequential' }, activation: 'sigmoid', activationRange: rangeOf(text, 'nn.Sigmoid('), args: { in_channels: 1, out_channels: 4 }, accessPath: 'self.features[0]', outputShape: [4, 8, 8] }),
    layer({ name: 'features.1', className: 'Sigmoid', site: { file: MODEL, range: rangeOf(text, 'nn.Sigmoid('), container: 'sequential' } }),
    layer({ name: 'features.2', className: 'Conv2d', site: { file: MODEL, range: rangeOf(text, 'nn.Conv2d(', 1), container: 'sequential' }, activation: 'tanh', activationRange: rangeOf(text, 'nn.Tanh('), args: { in_channels: 4, out_channels: 4 }, accessPath: 'self.features[2]', outputShape: [4, 8, 8] }),
    layer({ name: 'features.3', className: 'Tanh', site: { file: MODEL, range: rangeOf(text, 'nn.Tanh('), container: 'sequential' } }),
    layer({ name: 'head', className: 'Linear', site: { file: MODEL, range: rangeOf(text, 'nn.Linear('), container: 'attribute', statementRange: statementOf(text, 'nn.Linear('), indent: '        ' }, activation: 'sigmoid', activationRange: rangeOf(text, 'nn.Sigmoid(', 1), args: { in_features: 256, out_features: 10 }, accessPath: 'self.head', callRanges: [rangeOf(text, 'self.head(')] }),
    layer({ name: 'out', className: 'Sigmoid', site: { file: MODEL, range: rangeOf(text, 'nn.Sigmoid(', 1), container: 'attribute' } }),
  ];
}

test('use-relu: nn.Sigmoid() / nn.Tanh() modules of hidden layers become nn.ReLU(); the classifier keeps its sigmoid', () => {
  const fix = planPyUseRelu(context(SEQUENTIAL, sequentialLayers()))!;
  assert.equal(fix.code, 'use-relu');
  const after = applyEdits(SEQUENTIAL, fix.edits);
  assert.match(after, /nn\.Conv2d\(1, 4, 3, padding=1\),  # first\n            nn\.ReLU\(\),\n            nn\.Conv2d\(4, 4, 3, padding=1\),\n            nn\.ReLU\(\),/);
  assert.match(after, /self\.out = nn\.Sigmoid\(\)/);
  // Two switches, and one insertion of He init for the switched layers (torch's default init shrinks a ReLU signal per layer).
  assert.equal(fix.edits.length, 3);
  assert.match(after, /self\.out = nn\.Sigmoid\(\)\n        nn\.init\.kaiming_normal_\(self\.features\[0\]\.weight, nonlinearity="relu"\)\n        nn\.init\.zeros_\(self\.features\[0\]\.bias\)\n        nn\.init\.kaiming_normal_\(self\.features\[2\]\.weight, nonlinearity="relu"\)/);
  assert.match(fix.title, /^Use ReLU instead of sigmoid\/tanh in 2 places \(with He initialization\)$/);
  check('use-relu sequential', after, 'Net', [1, 8, 8]);
});

test('add-batch-normalization in a Sequential: a line of its own after each conv, with the checkpoint warning', () => {
  const fix = planPyAddBatchNormalization(context(SEQUENTIAL, sequentialLayers()))!;
  const after = applyEdits(SEQUENTIAL, fix.edits);
  assert.match(after, /nn\.Conv2d\(1, 4, 3, padding=1\),  # first\n            nn\.BatchNorm2d\(4\),\n            nn\.Sigmoid\(\),/);
  assert.match(after, /nn\.Conv2d\(4, 4, 3, padding=1\),\n            nn\.BatchNorm2d\(4\),\n            nn\.Tanh\(\),/);
  assert.match(fix.title, /indices shift.*checkpoints/);
  assert.doesNotMatch(after, /BatchNorm1d/, 'the classifier gets none');
  check('bn sequential', after, 'Net', [1, 8, 8]);
});

test('add-batch-normalization in a one-line Sequential and as its last argument', () => {
  const text = `import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.f = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3))\n        self.head = nn.Linear(2 * 4 * 4, 10)\n\n    def forward(self, x):\n        return self.head(self.f(x).flatten(1))\n`;
  const layers = [
    layer({ name: 'f.0', className: 'Conv2d', site: { file: MODEL, range: rangeOf(text, 'nn.Conv2d('), container: 'sequential' }, args: { out_channels: 2 } }),
    layer({ name: 'f.2', className: 'Conv2d', site: { file: MODEL, range: rangeOf(text, 'nn.Conv2d(', 1), container: 'sequential' }, args: { out_channels: 2 } }),
    layer({ name: 'head', className: 'Linear', site: { file: MODEL, range: rangeOf(text, 'nn.Linear('), container: 'attribute' } }),
  ];
  const after = applyEdits(text, planPyAddBatchNormalization(context(text, layers))!.edits);
  assert.match(after, /nn\.Sequential\(nn\.Conv2d\(1, 2, 3\), nn\.BatchNorm2d\(2\), nn\.ReLU\(\), nn\.Conv2d\(2, 2, 3\), nn\.BatchNorm2d\(2\)\)/);
  check('bn one-line', after, 'Net', [1, 8, 8]);
});

// ──── functional activations in forward ────

const FUNCTIONAL = `import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv3 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        x = torch.sigmoid(self.conv1(x))
        x = F.tanh(self.conv2(x))
        x = self.conv3(x).sigmoid()
        return self.fc(x.flatten(1))
`;

function functionalLayers(text: string, activations: string[], names: string[]): TorchLayer[] {
  const convs = [0, 1, 2].map((k) =>
    layer({
      name: `conv${k + 1}`,
      className: 'Conv2d',
      site: { file: MODEL, range: rangeOf(text, 'nn.Conv2d(', k), statementRange: statementOf(text, `self.conv${k + 1} = `), indent: '        ', container: 'attribute' },
      activation: activations[k],
      activationRange: rangeOf(text, names[k]),
      args: { in_channels: k === 0 ? 1 : 4, out_channels: 4 },
      accessPath: `self.conv${k + 1}`,
      callRanges: [rangeOf(text, `self.conv${k + 1}(`)],
      outputShape: [4, 8, 8],
    }),
  );
  return [...convs, layer({ name: 'fc', className: 'Linear', site: { file: MODEL, range: rangeOf(text, 'nn.Linear('), container: 'attribute' }, args: { out_features: 10 }, accessPath: 'self.fc' })];
}

test('use-relu: torch.sigmoid(x) → torch.relu(x), F.tanh(x) → F.relu(x), x.sigmoid() → x.relu()', () => {
  const layers = functionalLayers(FUNCTIONAL, ['sigmoid', 'tanh', 'sigmoid'], ['torch.sigmoid(', 'F.tanh(', 'self.conv3(x).sigmoid(']);
  // The trainer's range of a method call is the whole `self.conv3(x).sigmoid()`.
  const fix = planPyUseRelu(context(FUNCTIONAL, layers))!;
  const after = applyEdits(FUNCTIONAL, fix.edits);
  assert.match(after, /x = torch\.relu\(self\.conv1\(x\)\)\n        x = F\.relu\(self\.conv2\(x\)\)\n        x = self\.conv3\(x\)\.relu\(\)/);
  check('use-relu functional', after, 'Net', [1, 8, 8]);
});

test('add-batch-normalization for attributes: a new attribute after the statement and the forward call wrapped', () => {
  const layers = functionalLayers(FUNCTIONAL, ['sigmoid', 'tanh', 'sigmoid'], ['torch.sigmoid(', 'F.tanh(', 'self.conv3(x).sigmoid(']);
  const fix = planPyAddBatchNormalization(context(FUNCTIONAL, layers))!;
  const after = applyEdits(FUNCTIONAL, fix.edits);
  assert.match(after, /self\.conv1 = nn\.Conv2d\(1, 4, 3, padding=1\)\n        self\.conv1_bn = nn\.BatchNorm2d\(4\)\n/);
  assert.match(after, /x = torch\.sigmoid\(self\.conv1_bn\(self\.conv1\(x\)\)\)/);
  assert.match(after, /x = self\.conv3_bn\(self\.conv3\(x\)\)\.sigmoid\(\)/);
  assert.doesNotMatch(fix.title, /checkpoints/, 'attributes shift no indices');
  check('bn attributes', after, 'Net', [1, 8, 8]);
});

test('change-initializer: nn.init calls for each activation at the end of the entry class __init__', () => {
  const layers = functionalLayers(FUNCTIONAL, ['relu', 'tanh', 'sigmoid'], ['torch.sigmoid(', 'F.tanh(', 'self.conv3(x).sigmoid(']);
  const fix = planPyChangeInitializer(context(FUNCTIONAL, layers))!;
  const after = applyEdits(FUNCTIONAL, fix.edits);
  assert.ok(
    after.includes(
      [
        '        self.fc = nn.Linear(4 * 8 * 8, 10)',
        '        nn.init.kaiming_normal_(self.conv1.weight, nonlinearity="relu")',
        '        nn.init.zeros_(self.conv1.bias)',
        '        nn.init.xavier_normal_(self.conv2.weight, gain=nn.init.calculate_gain("tanh"))',
        '        nn.init.zeros_(self.conv2.bias)',
        '        nn.init.kaiming_normal_(self.conv3.weight, nonlinearity="linear")',
        '        nn.init.zeros_(self.conv3.bias)',
        '        nn.init.xavier_normal_(self.fc.weight)',
        '        nn.init.zeros_(self.fc.bias)',
        '',
        '    def forward(self, x):',
      ].join('\n'),
    ),
    after,
  );
  check('init', after, 'Net', [1, 8, 8]);
});

// ──── the block: Conv2d → BatchNorm2d → ReLU(inplace=True) ────

const BLOCK = `import torch.nn as nn
import torch.nn.functional as F


class CustomCNNLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super(CustomCNNLayer, self).__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.conv(x)
        x = self.bn(x)
        x = self.relu(x)
        return x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = CustomCNNLayer(1, 8, 3, padding=1)
        self.layer2 = CustomCNNLayer(8, 8, 3, padding=1)
        self.hidden = nn.Linear(8 * 8 * 8, 32)
        self.act = nn.ReLU(True)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(x))
        return self.fc(self.act(self.hidden(x.flatten(1))))
`;

function blockLayers(text: string): TorchLayer[] {
  const inBlock = (name: string, k: number): TorchLayer[] => [
    layer({
      name: `${name}.conv`,
      className: 'Conv2d',
      site: { file: MODEL, range: rangeOf(text, 'nn.Conv2d('), statementRange: statementOf(text, 'self.conv = '), indent: '        ', container: 'attribute' },
      instantiatedAt: [{ file: MODEL, range: rangeOf(text, 'CustomCNNLayer(', 1 + k), container: 'attribute', qualifiedName: name, className: 'CustomCNNLayer' }],
      activation: 'relu',
      activationRange: rangeOf(text, 'nn.ReLU('),
      args: { out_channels: 8 },
      accessPath: `self.${name}.conv`,
      callRanges: [rangeOf(text, 'self.conv(')],
    }),
    layer({ name: `${name}.bn`, className: 'BatchNorm2d', site: { file: MODEL, range: rangeOf(text, 'nn.BatchNorm2d('), container: 'attribute' } }),
    layer({ name: `${name}.relu`, className: 'ReLU', site: { file: MODEL, range: rangeOf(text, 'nn.ReLU('), container: 'attribute' } }),
  ];
  return [
    ...inBlock('layer1', 0),
    ...inBlock('layer2', 1),
    layer({ name: 'hidden', className: 'Linear', site: { file: MODEL, range: rangeOf(text, 'nn.Linear('), container: 'attribute' }, accessPath: 'self.hidden', activation: 'relu', activationRange: rangeOf(text, 'nn.ReLU(', 1) }),
    layer({ name: 'act', className: 'ReLU', site: { file: MODEL, range: rangeOf(text, 'nn.ReLU(', 1), container: 'attribute' } }),
    layer({ name: 'fc', className: 'Linear', site: { file: MODEL, range: rangeOf(text, 'nn.Linear(', 1), container: 'attribute' }, accessPath: 'self.fc' }),
  ];
}

test('use-leaky-relu: nn.ReLU(inplace=True) and nn.ReLU(True) → nn.LeakyReLU(inplace=True), never LeakyReLU(True); the block line once', () => {
  const layers = blockLayers(BLOCK);
  const fix = planPyUseLeakyRelu(context(BLOCK, layers), 'relu')!;
  const after = applyEdits(BLOCK, fix.edits);
  assert.match(after, /self\.relu = nn\.LeakyReLU\(inplace=True\)\n/);
  assert.match(after, /self\.act = nn\.LeakyReLU\(inplace=True\)\n/);
  assert.doesNotMatch(after, /LeakyReLU\(True\)/);
  assert.equal(fix.edits.length, 2, 'one edit for the block line both instances share, one for act');
  check('leaky block', after, 'Net', [1, 8, 8]);
});

test('use-leaky-relu: F.relu(x) → F.leaky_relu(x), a positional inplace becomes a keyword', () => {
  const text = `import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.conv1 = nn.Conv2d(1, 4, 3)\n        self.conv2 = nn.Conv2d(4, 4, 3)\n        self.fc = nn.Linear(4 * 2 * 2, 10)\n\n    def forward(self, x):\n        x = F.relu(self.conv1(x))\n        x = torch.relu(self.conv2(x))\n        x = F.relu(x, True)\n        return self.fc(x.flatten(1))\n`;
  const layers = [
    layer({ name: 'conv1', className: 'Conv2d', site: { file: MODEL, range: rangeOf(text, 'nn.Conv2d('), container: 'attribute' }, activation: 'relu', activationRange: rangeOf(text, 'F.relu(') }),
    layer({ name: 'conv2', className: 'Conv2d', site: { file: MODEL, range: rangeOf(text, 'nn.Conv2d(', 1), container: 'attribute' }, activation: 'relu', activationRange: rangeOf(text, 'torch.relu(') }),
    layer({ name: 'conv3', className: 'Conv2d', site: { file: MODEL, range: rangeOf(text, 'nn.Conv2d(', 1), container: 'attribute' }, activation: 'relu', activationRange: rangeOf(text, 'F.relu(', 1) }),
    layer({ name: 'fc', className: 'Linear', site: { file: MODEL, range: rangeOf(text, 'nn.Linear('), container: 'attribute' } }),
  ];
  const after = applyEdits(text, planPyUseLeakyRelu(context(text, layers), 'relu')!.edits);
  assert.match(after, /x = F\.leaky_relu\(self\.conv1\(x\)\)\n        x = F\.leaky_relu\(self\.conv2\(x\)\)\n        x = F\.leaky_relu\(x, inplace=True\)\n/);
  check('leaky functional', after, 'Net', [1, 6, 6]);
});

test('use-leaky-relu from sigmoid modules', () => {
  const after = applyEdits(SEQUENTIAL, planPyUseLeakyRelu(context(SEQUENTIAL, sequentialLayers()), 'saturating')!.edits);
  assert.match(after, /# first\n            nn\.LeakyReLU\(\),\n            nn\.Conv2d\(4, 4, 3, padding=1\),\n            nn\.LeakyReLU\(\),/);
});

test('add-batch-normalization skips a conv a BatchNorm already follows (the issue block)', () => {
  assert.equal(planPyAddBatchNormalization(context(BLOCK, blockLayers(BLOCK))), undefined);
});

test('change-initializer reaches modules inside blocks through their access path', () => {
  const fix = planPyChangeInitializer(context(BLOCK, blockLayers(BLOCK)))!;
  const after = applyEdits(BLOCK, fix.edits);
  assert.match(after, /self\.fc = nn\.Linear\(32, 10\)\n        nn\.init\.kaiming_normal_\(self\.layer1\.conv\.weight, nonlinearity="relu"\)\n        nn\.init\.zeros_\(self\.layer1\.conv\.bias\)\n        nn\.init\.kaiming_normal_\(self\.layer2\.conv\.weight/);
  check('init block', after, 'Net', [1, 8, 8]);
});

// ──── learning rate and optimizer ────

const TRAINING = `import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))


if __name__ == "__main__":
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
`;

function optimizerSite(text: string): TorchOptimizerSite {
  const lr = rangeOf(text, '0.5');
  return { className: 'SGD', file: MODEL, range: rangeOf(text, 'torch.optim.SGD('), learningRate: 0.5, learningRateRange: { start: lr.start, end: { line: lr.start.line, character: lr.start.character + 3 } } };
}

test('lower-learning-rate rewrites the lr= literal; without one it is a setting', () => {
  const fix = planPyLearningRate(context(TRAINING, [], { optimizerSite: optimizerSite(TRAINING), learningRate: 0.5, optimizer: 'momentum' }), 'lower');
  assert.equal(fix.code, 'lower-learning-rate');
  assert.match(applyEdits(TRAINING, fix.edits), /torch\.optim\.SGD\(model\.parameters\(\), lr=0\.01, momentum=0\.9\)/);
  const setting = planPyLearningRate(context(TRAINING, [], { learningRate: 1e-6 }), 'raise');
  assert.deepEqual(setting.edits, []);
  assert.deepEqual(setting.setting, { key: 'gradientLens.learningRate', value: 0.001 });
});

test('change-optimizer: torch.optim.SGD(params, ...) → torch.optim.Adam(params, lr=0.001)', () => {
  const fix = planPyChangeOptimizer(context(TRAINING, [], { optimizerSite: optimizerSite(TRAINING), optimizer: 'sgd', learningRate: 0.5 }))!;
  assert.match(applyEdits(TRAINING, fix.edits), /optimizer = torch\.optim\.Adam\(model\.parameters\(\), lr=0\.001\)\n/);
});

test('planFixes for a PyTorch vanishing finding: use-relu first, then BatchNorm, keyed like the Keras ones', () => {
  const finding: Finding = { code: 'vanishing-gradient', severity: 'error', layer: 'features.0', message: '', evidence: {}, fixes: [] };
  const fixes = planFixes(finding, context(SEQUENTIAL, sequentialLayers()));
  assert.deepEqual(
    fixes.map((f) => f.code),
    ['use-relu', 'add-batch-normalization', 'use-leaky-relu', 'change-initializer'],
  );
});

test('sites in another file than the model file are not edited', () => {
  const layers = sequentialLayers().map((l) => ({ ...l, site: l.site && { ...l.site, file: '/work/blocks.py' }, activationFile: '/work/blocks.py' }));
  assert.equal(planPyUseRelu(context(SEQUENTIAL, layers)), undefined);
  assert.equal(planPyAddBatchNormalization(context(SEQUENTIAL, layers)), undefined);
});

test('the lexer: brackets in strings and comments, continuation lines', () => {
  const text = `x = f("(", ')')  # (\ny = [1,\n     2]\nz = """a\n(b"""\nw = 1\n`;
  const source = new PythonSource(text);
  assert.equal(source.closingBracket(text.indexOf('(')), text.indexOf(')  #') );
  assert.deepEqual(
    source.logicalLines().map((l) => [l.startLine, l.endLine]),
    [
      [0, 0],
      [1, 2],
      [3, 4],
      [5, 5],
    ],
  );
});

test('every edited file imports, builds and trains one step in real torch', { skip: !existsSync(TORCH_PYTHON) && 'no /usr/bin/python3' }, () => {
  const probe = spawnSync(TORCH_PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gl-pyfix-'));
  try {
    const files = edited.map((e, k) => {
      const file = path.join(dir, `edited_${k}.py`);
      writeFileSync(file, e.text);
      return { file, ...e };
    });
    const script = `
import importlib.util, json, sys, torch
for item in json.loads(sys.argv[1]):
    spec = importlib.util.spec_from_file_location("m", item["file"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, item["entry"])()
    out = model(torch.randn(4, *item["input"]))
    loss = out.sum()
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.01).step()
    print("ok", item["name"])
`;
    const run = spawnSync(TORCH_PYTHON, ['-c', script, JSON.stringify(files)], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim().split('\n').length, edited.length, run.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
