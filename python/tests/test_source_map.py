"""Source mapping: every module's construction call, block/helper instantiation sites, functional
and module activations, call ranges, access paths and the optimizer literal — each range sliced
out of the file (UTF-16 columns, as VS Code counts) and compared with the exact source text."""
from __future__ import annotations

import os
import unittest

from gradient_lens.source_map import optimizer_site

from .support import build_mapped, model_path, slice_range

STYLES = model_path("styles.py")


def text(range_, path=STYLES):
    return slice_range(path, range_)


class ConstructionSites(unittest.TestCase):
    def assertSite(self, layer, call, container, statement=None, indent="        "):
        site = layer["site"]
        self.assertEqual(site["file"], STYLES)
        self.assertEqual(text(site["range"]), call)
        self.assertEqual(site["container"], container)
        if statement is not None:
            self.assertEqual(text(site["statementRange"]), statement)
        self.assertEqual(site["indent"], indent)

    def test_attribute(self):
        _, _, layers = build_mapped(STYLES, "AttributeNet")
        self.assertSite(layers["conv1"], "nn.Conv2d(1, 8, 3)", "attribute", "self.conv1 = nn.Conv2d(1, 8, 3)")
        self.assertSite(layers["fc"], "nn.Linear(4 * 4 * 4, 10)", "attribute", "self.fc = nn.Linear(4 * 4 * 4, 10)")
        self.assertEqual(layers["conv1"]["className"], "Conv2d")
        self.assertEqual(layers["conv1"]["accessPath"], "self.conv1")
        # Built directly by the model: no instantiation sites (not even the test's own call that built the model).
        self.assertNotIn("instantiatedAt", layers["conv1"])

    def test_multi_line_call(self):
        _, _, layers = build_mapped(STYLES, "AttributeNet")
        call = "nn.Conv2d(\n            8,\n            4,\n            kernel_size=3,\n        )"
        self.assertSite(layers["conv2"], call, "attribute", "self.conv2 = " + call)
        site = layers["conv2"]["site"]["range"]
        self.assertLess(site["start"]["line"], site["end"]["line"])

    def test_sequential_arguments(self):
        _, _, layers = build_mapped(STYLES, "SequentialNet")
        expected = {"features.0": "nn.Conv2d(1, 8, 3)", "features.1": "nn.BatchNorm2d(8)", "features.2": "nn.ReLU(inplace=True)",
                    "features.3": "nn.Conv2d(8, 8, 3)", "features.4": "nn.Tanh()"}
        for name, call in expected.items():
            with self.subTest(name):
                self.assertSite(layers[name], call, "sequential")
                self.assertTrue(text(layers[name]["site"]["statementRange"]).startswith("self.features = nn.Sequential(\n"))
        self.assertEqual(layers["features.0"]["accessPath"], "self.features[0]")
        self.assertEqual(layers["features.3"]["accessPath"], "self.features[3]")
        self.assertEqual(layers["features.0"]["outputShape"], [8, 6, 6])

    def test_starred_list_of_blocks(self):
        _, _, layers = build_mapped(STYLES, "StarredNet")
        for index in range(3):
            with self.subTest(index):
                layer = layers[f"blocks.{index}.conv"]
                self.assertSite(layer, "nn.Conv2d(channels, channels, 3, padding=1)", "attribute")
                [outer] = layer["instantiatedAt"]
                self.assertEqual(text(outer["range"]), "Block(4)")
                self.assertEqual(outer["qualifiedName"], f"blocks.{index}")
                self.assertEqual(outer["className"], "Block")
                self.assertEqual(layer["accessPath"], f"self.blocks[{index}].conv")

    def test_module_list_built_in_a_loop(self):
        _, _, layers = build_mapped(STYLES, "ModuleListNet")
        for name in ("convs.0", "convs.1"):
            with self.subTest(name):
                self.assertSite(layers[name], "nn.Conv2d(channels, width, 3, padding=1)", "other",
                                "self.convs.append(nn.Conv2d(channels, width, 3, padding=1))", indent="            ")
        self.assertEqual(layers["convs.0"]["args"]["out_channels"], 4)
        self.assertEqual(layers["convs.1"]["args"]["out_channels"], 8)

    def test_helper_function(self):
        _, _, layers = build_mapped(STYLES, "HelperNet")
        for block, call in (("block1", "conv_block(1, 4)"), ("block2", "conv_block(4, 8)")):
            with self.subTest(block):
                layer = layers[f"{block}.0"]
                # The site is inside the helper; the helper's call is where it was instantiated.
                self.assertSite(layer, "nn.Conv2d(cin, cout, 3, padding=1)", "sequential",
                                "return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU())", indent="    ")
                [outer] = layer["instantiatedAt"]
                self.assertEqual(text(outer["range"]), call)
                self.assertEqual(text(outer["statementRange"]), f"self.{block} = {call}")
                self.assertEqual(outer["className"], "conv_block")
                # The module the helper's call built (what `self.block1` holds), not the conv inside it.
                self.assertEqual(outer["qualifiedName"], block)

    def test_reusable_block_class(self):
        _, _, layers = build_mapped(STYLES, "BlockNet")
        calls = {"layer1": "CustomCNNLayer(1, 4, 3, padding=1)", "layer2": "CustomCNNLayer(4, 8, 3, stride=2, padding=1)"}
        for block, call in calls.items():
            for child, inner in (("conv", "nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)"),
                                 ("bn", "nn.BatchNorm2d(out_channels)"), ("relu", "nn.ReLU(inplace=True)")):
                with self.subTest(f"{block}.{child}"):
                    layer = layers[f"{block}.{child}"]
                    self.assertSite(layer, inner, "attribute")
                    [outer] = layer["instantiatedAt"]
                    self.assertEqual(text(outer["range"]), call)
                    self.assertEqual(text(outer["statementRange"]), f"self.{block} = {call}")
                    self.assertEqual(outer["container"], "attribute")
                    self.assertEqual(outer["qualifiedName"], block)
                    self.assertEqual(outer["className"], "CustomCNNLayer")
        self.assertEqual(layers["layer2.conv"]["args"], {"in_channels": 4, "out_channels": 8, "kernel_size": [3, 3],
                                                         "stride": [2, 2], "padding": [1, 1], "bias": True})
        self.assertEqual(layers["layer1.conv"]["accessPath"], "self.layer1.conv")

    def test_factory_function_is_not_an_instantiation_site(self):
        from gradient_lens.layers import ModelMap, execution_order
        from gradient_lens.source_map import ConstructionRecorder
        import torch
        from .support import import_file

        module = import_file(STYLES)
        with ConstructionRecorder() as recorder:
            model = module.make_block_net()
        order, shapes, _ = execution_order(model, torch.zeros(2, 1, 8, 8))
        layers = {layer["name"]: layer for layer in ModelMap(model, recorder, STYLES, order, shapes).describe()}
        self.assertEqual([text(o["range"]) for o in layers["layer1.conv"]["instantiatedAt"]], ["CustomCNNLayer(1, 4, 3, padding=1)"])
        self.assertNotIn("instantiatedAt", layers["fc"])

    def test_non_ascii_before_the_call_counts_utf16_columns(self):
        _, _, layers = build_mapped(STYLES, "UnicodeNet")
        site = layers["conv"]["site"]
        self.assertEqual(text(site["range"]), "nn.Conv2d(1, 4, 3)")
        self.assertEqual(text(site["statementRange"]), "self.conv = nn.Conv2d(1, 4, 3)")
        with open(STYLES, encoding="utf-8") as handle:
            line = handle.read().split("\n")[site["range"]["start"]["line"]]
        # µ and é are one UTF-16 unit (two UTF-8 bytes), 😀 two units (four bytes).
        self.assertEqual(site["range"]["start"]["character"], len(line[:line.index("nn.Conv2d")].encode("utf-16-le")) // 2)
        self.assertNotEqual(site["range"]["start"]["character"], len(line[:line.index("nn.Conv2d")].encode("utf-8")))
        self.assertEqual(text(layers["conv"]["activationRange"]), "torch.sigmoid(self.conv(x))")
        self.assertEqual([text(r) for r in layers["conv"]["callRanges"]], ["self.conv(x)"])

    def test_only_python_line_breaks_count(self):
        # A form-feed line and U+2028 in a comment: str.splitlines() breaks there, Python and VS Code do not.
        path = model_path("line_breaks.py")
        _, _, layers = build_mapped(path, "PagedNet")
        self.assertEqual(slice_range(path, layers["conv"]["site"]["range"]), "nn.Conv2d(1, 4, 3)")
        self.assertEqual(slice_range(path, layers["conv"]["site"]["statementRange"]), "self.conv = nn.Conv2d(1, 4, 3)")
        self.assertEqual(slice_range(path, layers["fc"]["site"]["range"]), "nn.Linear(4 * 6 * 6, 10)")
        self.assertEqual(layers["fc"]["site"]["indent"], "        ")
        self.assertEqual(slice_range(path, layers["conv"]["activationRange"]), "torch.sigmoid(self.conv(x))")

    def test_crlf_file(self):
        import tempfile
        with open(STYLES, encoding="utf-8") as handle:
            source = handle.read()
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "styles_crlf.py")
            with open(path, "w", encoding="utf-8", newline="\r\n") as handle:
                handle.write(source)
            _, _, layers = build_mapped(path, "UnicodeNet")
            self.assertEqual(slice_range(path, layers["conv"]["site"]["range"]), "nn.Conv2d(1, 4, 3)")
            self.assertEqual(slice_range(path, layers["conv"]["activationRange"]), "torch.sigmoid(self.conv(x))")
            _, _, layers = build_mapped(path, "AttributeNet")
            self.assertEqual(slice_range(path, layers["conv2"]["site"]["range"]),
                             "nn.Conv2d(\n            8,\n            4,\n            kernel_size=3,\n        )")


class Activations(unittest.TestCase):
    def assertActivation(self, layer, kind, call, path=STYLES):
        self.assertEqual(layer.get("activation"), kind)
        self.assertEqual(layer.get("activationFile", layer["site"]["file"]), path)
        self.assertEqual(text(layer["activationRange"], path), call)

    def test_functional_around_the_call(self):
        _, model_map, layers = build_mapped(STYLES, "AttributeNet")
        self.assertActivation(layers["conv1"], "sigmoid", "torch.sigmoid(self.conv1(x))")
        self.assertEqual([text(r) for r in layers["conv1"]["callRanges"]], ["self.conv1(x)"])

    def test_functional_on_a_later_statement(self):
        _, _, layers = build_mapped(STYLES, "AttributeNet")
        self.assertActivation(layers["conv2"], "relu", "F.relu(x)")
        self.assertEqual([text(r) for r in layers["conv2"]["callRanges"]], ["self.conv2(x)"])
        self.assertNotIn("activation", layers["fc"])

    def test_functional_through_batch_norm(self):
        _, model_map, layers = build_mapped(STYLES, "BatchNormTanhNet")
        self.assertActivation(layers["conv1"], "tanh", "torch.tanh(x)")
        self.assertNotIn("activation", layers["bn1"])
        # Its statistics read BatchNorm's output through tanh, as the net computes it.
        [tap] = [t for t in model_map.taps() if t.layer == "conv1"]
        self.assertIs(tap.source, model_map.modules["bn1"])
        self.assertEqual(tap.kind, "tanh")

    def test_functional_in_a_loop_over_a_module_list(self):
        _, _, layers = build_mapped(STYLES, "ModuleListNet")
        for name in ("convs.0", "convs.1"):
            with self.subTest(name):
                self.assertActivation(layers[name], "sigmoid", "torch.sigmoid(conv(x))")
                self.assertEqual([text(r) for r in layers[name]["callRanges"]], ["conv(x)"])

    def test_zip_of_module_lists(self):
        _, model_map, layers = build_mapped(STYLES, "ZipLoopNet")
        for index in (0, 1):
            with self.subTest(index):
                self.assertActivation(layers[f"convs.{index}"], "relu", "F.relu(bn(conv(x)))")
                self.assertNotIn("activation", layers[f"bns.{index}"])
                self.assertEqual([text(r) for r in layers[f"bns.{index}"]["callRanges"]], ["bn(conv(x))"])
                [tap] = [t for t in model_map.taps() if t.layer == f"convs.{index}"]
                self.assertIs(tap.source, model_map.modules[f"bns.{index}"])

    def test_tensor_method(self):
        _, _, layers = build_mapped(STYLES, "MethodReluNet")
        self.assertActivation(layers["conv1"], "relu", "x.relu()")
        _, _, blocks = build_mapped(STYLES, "StarredNet")
        self.assertActivation(blocks["blocks.1.conv"], "relu", "self.conv(x).relu()")
        self.assertNotIn("activation", blocks["stem"])

    def test_modules_in_execution_order(self):
        _, model_map, layers = build_mapped(STYLES, "SequentialNet")
        self.assertActivation(layers["features.0"], "relu", "nn.ReLU(inplace=True)")  # through the BatchNorm
        self.assertActivation(layers["features.3"], "tanh", "nn.Tanh()")
        self.assertNotIn("activation", layers["head"])
        taps = {t.layer: t for t in model_map.taps()}
        self.assertIs(taps["features.0"].source, model_map.modules["features.2"])
        _, _, blocks = build_mapped(STYLES, "BlockNet")
        self.assertActivation(blocks["layer1.conv"], "relu", "nn.ReLU(inplace=True)")
        _, _, helpers = build_mapped(STYLES, "HelperNet")
        self.assertActivation(helpers["block2.0"], "relu", "nn.ReLU()")

    def test_instrumented_flags(self):
        _, model_map, layers = build_mapped(STYLES, "SequentialNet")
        self.assertEqual({n: l["instrumented"] for n, l in layers.items()},
                         {"features.0": True, "features.1": True, "features.2": False, "features.3": True, "features.4": False, "head": True})
        self.assertEqual(layers["features.0"]["paramCount"], 8 * 9 + 8)
        self.assertEqual([layer.name for layer in model_map.instrumented()], ["features.0", "features.1", "features.3", "head"])


class OptimizerSite(unittest.TestCase):
    def test_learning_rate_literal(self):
        path = model_path("train_script.py")
        site = optimizer_site(path)
        self.assertIsNotNone(site)
        self.assertEqual(site["className"], "SGD")
        self.assertEqual(site["learningRate"], 0.1)
        self.assertEqual(slice_range(path, site["learningRateRange"]), "0.1")
        self.assertEqual(slice_range(path, site["range"]), "torch.optim.SGD(model.parameters(), momentum=0.9, lr=0.1)")

    def test_no_optimizer(self):
        self.assertIsNone(optimizer_site(STYLES))


if __name__ == "__main__":
    unittest.main()
