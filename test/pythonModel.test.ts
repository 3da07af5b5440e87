import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { activeInterpreter, asksForInputShape, choosePython, isPythonDocument, isTorchModuleText, parseInputShape, torchModuleCandidates } from '../src/host/pythonModel';
import { repoRoot } from './cliHarness';
import { describeFinding } from '../src/host/diagnosticModel';
import type { Finding } from '../src/shared/findings';
import type { LayerInfo } from '../src/shared/model';

test('a .py file is offered for analysis when its text mentions an nn.Module, without importing it', () => {
  assert.ok(isPythonDocument({ languageId: 'python', uri: { path: '/w/a.txt' } }));
  assert.ok(isPythonDocument({ languageId: 'plaintext', uri: { path: '/w/model.py' } }));
  assert.ok(isTorchModuleText('import torch.nn as nn\nclass Net(nn.Module):\n    pass\n'));
  assert.ok(isTorchModuleText('from torch import nn\n'));
  assert.ok(isTorchModuleText('import torch\nclass Net(torch.nn.Module): pass\n'));
  assert.equal(isTorchModuleText('import numpy as np\nprint(np.ones(3))\n'), false);
});

test('interpreter: the setting, else the Python extension, else the default', async () => {
  assert.deepEqual(choosePython(' /venv/bin/python ', '/ext/python'), { python: '/venv/bin/python', source: 'gradientLens.pythonPath' });
  assert.equal(choosePython('', '/ext/python').python, '/ext/python');
  assert.equal(choosePython(undefined, undefined).python, undefined);
  const api = {
    environments: {
      getActiveEnvironmentPath: () => ({ path: '/envs/torch' }),
      resolveEnvironment: async () => ({ executable: { uri: { fsPath: '/envs/torch/bin/python' } } }),
    },
  };
  assert.equal(await activeInterpreter(api, undefined), '/envs/torch/bin/python');
  assert.equal(await activeInterpreter({ settings: { getExecutionDetails: () => ({ execCommand: ['/old/python'] }) } }, undefined), '/old/python');
  assert.equal(await activeInterpreter(undefined, undefined), undefined);
});

test('a finding on a module built in a block: related information at the instantiation, the marker in the layer\'s own file', () => {
  const range = (line: number) => ({ start: { line, character: 8 }, end: { line, character: 30 } });
  const layers: LayerInfo[] = [
    { name: 'layer1.conv', className: 'Conv2d', range: range(7), related: [{ range: range(20), message: "'layer1.conv' is built inside CustomCNNLayer 'layer1', instantiated here" }] },
    { name: 'other.conv', className: 'Conv2d', range: range(3), file: '/w/blocks.py' },
  ];
  const finding: Finding = { code: 'vanishing-gradient', severity: 'error', layer: 'layer1.conv', message: 'm', evidence: {}, fixes: [] };
  const description = describeFinding(finding, layers);
  assert.deepEqual(description.range, range(7));
  assert.equal(description.file, undefined);
  assert.deepEqual(description.related, [{ range: range(20), message: "'layer1.conv' is built inside CustomCNNLayer 'layer1', instantiated here" }]);
  assert.equal(describeFinding({ ...finding, layer: 'other.conv' }, layers).file, '/w/blocks.py');
});

test('torchModuleCandidates: nn.Module subclasses of the file (also through a base class of the file), and which need constructor arguments', () => {
  const text = [
    'import torch.nn as nn',
    'class Block(nn.Module):',
    '    def __init__(self, in_channels, out_channels=8):',
    '        super().__init__()',
    'class Base(torch.nn.Module):',
    '    pass',
    'class Net(Base):',
    '    def __init__(',
    '        self,',
    '        width=16,',
    '    ):',
    '        super().__init__()',
    'class Other(nn.Module):',
    '    def __init__(self, *, depth=3):',
    '        super().__init__()',
    'class Helper:',
    '    def __init__(self): pass',
  ].join('\n');
  assert.deepEqual(torchModuleCandidates(text), [
    { name: 'Block', needsArguments: true },
    { name: 'Base', needsArguments: false },
    { name: 'Net', needsArguments: false },
    { name: 'Other', needsArguments: false },
  ]);
  assert.deepEqual(torchModuleCandidates(readFileSync(path.join(repoRoot, 'samples/pytorch/custom_cnn.py'), 'utf8')).map((c) => [c.name, c.needsArguments]), [
    ['CustomCNNLayer', true],
    ['CustomCNN', false],
  ]);
});

test('parseInputShape: C,H,W with or without brackets and spaces; a clear reason otherwise; the trainer\'s shape refusals are recognised', () => {
  assert.deepEqual(parseInputShape('3,64,64'), [3, 64, 64]);
  assert.deepEqual(parseInputShape(' (1, 28, 28) '), [1, 28, 28]);
  assert.match(String(parseInputShape('3,0,64')), /positive integer/);
  assert.match(String(parseInputShape('a,b')), /positive integer/);
  assert.match(String(parseInputShape('')), /C,H,W/);
  assert.ok(asksForInputShape('/x/m.py: the first Conv2d takes 4 channels; say the input shape with --input-shape C,H,W or INPUT_SHAPE = (C, H, W) in the file'));
  assert.ok(asksForInputShape('/x/m.py: cannot tell the input shape; give --input-shape C,H,W or INPUT_SHAPE = (C, H, W) in the file'));
  assert.ok(!asksForInputShape('/x/m.py: importing the file raised NameError'));
});
