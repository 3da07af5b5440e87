"""Per-weight gradients of softmax cross-entropy on logits, for the gradient reference test.

stdin: JSON list of cases {network, weights: {tf_name: {shape, data}}, x: {shape (NHWC), data},
labels: [class index], trainable: [tf_name], reluMasks: {layer: {shape (NHWC), bits: "0110…"}}},
reluMasks being the engine's own ReLU decisions (see ReferenceNet in networks.py).
stdout: JSON list of {network, loss, gradients: {tf_name: {shape, data}}} in TF layout.
Computed in float64, so the reference carries no float32 rounding of its own.
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

from networks import build
from tf_layout import gradients_in_tf_layout, load_tf_weights


def relu_masks(masks):
    result = {}
    for name, mask in masks.items():
        bits = np.frombuffer(mask['bits'].encode('ascii'), dtype=np.uint8) - ord('0')
        result[name] = torch.tensor(bits, dtype=torch.float64).reshape(mask['shape']).permute(0, 3, 1, 2)
    return result


def gradients(case):
    model = build(case['network']).double()
    load_tf_weights(model, case['weights'])
    model.relu_masks = relu_masks(case.get('reluMasks', {}))
    model.train()  # BatchNormalization normalises with the batch's statistics, as TF.js does when training
    x = torch.tensor(case['x']['data'], dtype=torch.float64).reshape(case['x']['shape']).permute(0, 3, 1, 2)
    labels = torch.tensor(case['labels'], dtype=torch.long)
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    return {'network': case['network'], 'loss': loss.item(), 'gradients': gradients_in_tf_layout(model, case['trainable'])}


def main():
    cases = json.load(sys.stdin)
    json.dump([gradients(case) for case in cases], sys.stdout)


if __name__ == '__main__':
    main()
