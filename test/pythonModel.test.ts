import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activeInterpreter, choosePython, isPythonDocument, isTorchModuleText } from '../src/host/pythonModel';
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
