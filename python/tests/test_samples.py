"""The shipped samples, trained as the engine trains them (the trainer's run and its message
encoding): the vanishing sample's first/last gradient RMS ratio is tiny, the healthy one's is not."""
from __future__ import annotations

import math
import os
import unittest

from .support import SAMPLES, gradient_ratios, run_in_process, start_request


def train(name: str, steps: int = 3):
    code, messages = run_in_process(start_request(os.path.join(SAMPLES, name), steps=steps, batchSize=8))
    assert code == 0, messages
    return messages


class Samples(unittest.TestCase):
    def test_vanishing_sigmoid(self):
        messages = train("vanishing_sigmoid.py")
        ready = messages[0]
        self.assertEqual((ready["entry"], ready["data"], ready["inputShape"]), ("VanishingCNN", "fashion-mnist", [1, 28, 28]))
        first = ready["layers"][0]
        self.assertEqual((first["name"], first["className"], first["activation"]), ("stem", "Conv2d", "sigmoid"))
        self.assertEqual(ready["layers"][2]["name"], "blocks.0.conv")
        self.assertEqual(ready["layers"][2]["instantiatedAt"][0]["qualifiedName"], "blocks.0")
        ratios = gradient_ratios(messages)
        self.assertEqual(len(ratios), 3)
        for ratio in ratios:
            self.assertLess(ratio, 1e-3)
            self.assertGreater(ratio, 0)
        self.assertEqual(messages[-1], {"type": "done", "cancelled": False, "stepsCompleted": 3})

    def test_custom_cnn(self):
        messages = train("custom_cnn.py")
        ready = messages[0]
        self.assertEqual((ready["entry"], ready["data"], ready["warnings"]), ("CustomCNN", "fashion-mnist", []))
        ratios = gradient_ratios(messages)
        self.assertEqual(len(ratios), 3)
        for ratio in ratios:
            self.assertGreater(ratio, 1e-2)
        for message in messages[1:-1]:
            self.assertTrue(all(math.isfinite(entry["gradL2"]) for entry in message["stats"]["layers"]))

    def test_training_script_optimizer_literal(self):
        messages = train("train_script_sgd.py", steps=1)
        ready = messages[0]
        self.assertEqual((ready["entry"], ready["optimizer"], ready["learningRate"]), ("SmallCNN", "SGD", 0.05))
        self.assertEqual(ready["optimizerSite"]["learningRate"], 0.05)
        # F.relu(self.bn1(self.conv1(x))) inside F.max_pool2d(...): relu through the BatchNorm.
        self.assertEqual(ready["layers"][0]["activation"], "relu")


if __name__ == "__main__":
    unittest.main()
