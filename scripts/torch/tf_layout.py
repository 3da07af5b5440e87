"""Moves weights and gradients between TF.js names/layouts and a PyTorch module.

TF.js names a weight "<layer>/<kind>"; the layer name is the module's attribute name here.
Layouts: conv kernel TF [kh, kw, in, out] vs torch [out, in, kh, kw]; Dense kernel TF
[in, out] vs torch Linear [out, in].
"""
import torch
from torch import nn

_PARAMETER_OF = {
    nn.Conv2d: {'kernel': 'weight', 'bias': 'bias'},
    nn.Linear: {'kernel': 'weight', 'bias': 'bias'},
    nn.BatchNorm2d: {'gamma': 'weight', 'beta': 'bias', 'moving_mean': 'running_mean', 'moving_variance': 'running_var'},
}


def _tensor_of(model, tf_name):
    layer_name, kind = tf_name.split('/')
    module = getattr(model, layer_name)
    for module_type, names in _PARAMETER_OF.items():
        if isinstance(module, module_type):
            return module, getattr(module, names[kind])
    raise KeyError(f'no PyTorch counterpart for TF weight {tf_name}')


def to_torch(module, kind, tf_value):
    if kind == 'kernel' and isinstance(module, nn.Conv2d):
        return tf_value.permute(3, 2, 0, 1)
    if kind == 'kernel' and isinstance(module, nn.Linear):
        return tf_value.t()
    return tf_value


def to_tf(module, kind, torch_value):
    if kind == 'kernel' and isinstance(module, nn.Conv2d):
        return torch_value.permute(2, 3, 1, 0)
    if kind == 'kernel' and isinstance(module, nn.Linear):
        return torch_value.t()
    return torch_value


def load_tf_weights(model, weights):
    """weights: {tf_name: {"shape": [...], "data": [...]}} in TF layout."""
    with torch.no_grad():
        for tf_name, value in weights.items():
            module, target = _tensor_of(model, tf_name)
            source = torch.tensor(value['data'], dtype=target.dtype).reshape(value['shape'])
            converted = to_torch(module, tf_name.split('/')[1], source)
            if converted.shape != target.shape:
                raise ValueError(f'{tf_name}: TF shape {value["shape"]} does not fit PyTorch shape {list(target.shape)}')
            target.copy_(converted)


def gradients_in_tf_layout(model, tf_names):
    result = {}
    for tf_name in tf_names:
        module, parameter = _tensor_of(model, tf_name)
        grad = to_tf(module, tf_name.split('/')[1], parameter.grad).contiguous()
        result[tf_name] = {'shape': list(grad.shape), 'data': grad.flatten().tolist()}
    return result
