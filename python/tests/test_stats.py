"""StepRecorder: every figure against the same figure computed directly from `p.grad` and the
weights, the activation fractions on nets built to be dead / saturated, non-finite gradients,
one host read-back per step, and gradients bit for bit equal to an uninstrumented step."""
from __future__ import annotations

import math
import unittest
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List

import torch
import torch.nn.functional as F

from gradient_lens.protocol import encode_message
from gradient_lens.stats import StepRecorder

from .support import SAMPLES, build_mapped, model_path, parse_js_json
import os

STYLES = model_path("styles.py")
NETS = model_path("stat_nets.py")


def recorder_for(model_map, activation_every: int = 1) -> StepRecorder:
    return StepRecorder(model_map.instrumented(), model_map.taps(), activation_every).attach()


def batch(shape, seed=3, n=8):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def sgd_step(model, model_map, shape, reduce=None, share=None, poison=False):
    """One recorded SGD step on a fixed batch; its StepStats, with `reduce` as watch() passes it under
    DDP and `share` = (rank, world) as it shares the layers there. `poison`: an inf in one gradient."""
    torch.manual_seed(0)
    recorder = recorder_for(model_map)
    if share is not None:
        recorder.share_with_ranks(*share)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    inputs, targets = batch(shape)
    recorder.start_step(0)
    loss = F.cross_entropy(model(inputs), targets)
    loss.backward()
    if poison:
        model_map.instrumented()[1].weight.grad.view(-1)[0] = math.inf
    recorder.before_update()
    optimizer.step()
    stats = recorder.after_update(0, loss, reduce=reduce)
    recorder.detach()
    return stats


class Figures(unittest.TestCase):
    def step(self, path, cls, shape, optimizer_cls=torch.optim.Adam, lr=0.01, prepare=None, x=None):
        """One instrumented step; returns stats, the gradients and weights before / after the update."""
        model, model_map, layers = build_mapped(path, cls, shape)
        if prepare is not None:
            prepare(model)
        recorder = recorder_for(model_map)
        optimizer = optimizer_cls(model.parameters(), lr=lr)
        inputs, targets = batch(shape) if x is None else (x, batch(shape)[1])
        outputs: Dict[str, torch.Tensor] = {}
        spy = {name: module.register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o.detach().clone()))
               for name, module in model_map.modules.items()}
        recorder.start_step(0)
        optimizer.zero_grad(set_to_none=True)
        output = model(inputs)
        loss = F.cross_entropy(output, targets)
        loss.backward()
        for handle in spy.values():
            handle.remove()
        grads = {layer.name: layer.weight.grad.detach().clone() for layer in model_map.instrumented()}
        before = {layer.name: layer.weight.detach().clone() for layer in model_map.instrumented()}
        recorder.before_update()
        optimizer.step()
        accuracy = (output.argmax(dim=1) == targets).float().mean()
        stats = recorder.after_update(0, loss, accuracy)
        recorder.detach()
        after = {layer.name: layer.weight.detach().clone() for layer in model_map.instrumented()}
        by_name = {entry["layer"]: entry for entry in stats["layers"]}
        self.assertAlmostEqual(stats["loss"], float(loss.detach()), places=6)
        self.assertAlmostEqual(stats["accuracy"], float(accuracy), places=6)
        return by_name, grads, before, after, outputs, model_map

    def assertClose(self, got, expected, rel=1e-5, msg=None):
        self.assertTrue(math.isclose(got, expected, rel_tol=rel, abs_tol=1e-12), f"{msg}: {got} != {expected}")

    def test_gradient_and_update_figures_equal_direct_computation(self):
        stats, grads, before, after, _, _ = self.step(STYLES, "BlockNet", [1, 8, 8])
        self.assertEqual(list(stats), ["layer1.conv", "layer1.bn", "layer2.conv", "layer2.bn", "fc"])
        for name, grad in grads.items():
            with self.subTest(name):
                entry = stats[name]
                n = grad.numel()
                self.assertClose(entry["gradL2"], float(grad.norm()), msg="L2")
                self.assertClose(entry["gradRms"], entry["gradL2"] / math.sqrt(n), rel=1e-12, msg="RMS = L2/√n")
                self.assertClose(entry["gradRms"], float(grad.double().pow(2).mean().sqrt()), msg="RMS")
                self.assertClose(entry["gradMeanAbs"], float(grad.abs().mean()), msg="mean |g|")
                self.assertEqual(entry["gradMaxAbs"], float(grad.abs().max()))
                self.assertEqual(entry["gradZeroFraction"], float((grad == 0).double().mean()))
                self.assertEqual(entry["gradNonFinite"], 0)
                self.assertClose(entry["weightL2"], float(before[name].norm()), msg="‖W‖")
                ratio = float((after[name] - before[name]).norm() / before[name].norm())
                self.assertGreater(ratio, 0)
                self.assertClose(entry["updateRatio"], ratio, rel=1e-4, msg="‖ΔW‖/‖W‖")

    def test_zero_fraction(self):
        x, _ = batch([6])
        x[:, :3] = 0
        stats, grads, *_ = self.step(NETS, "HalfZeroInputNet", [6], x=x)
        self.assertEqual(stats["fc"]["gradZeroFraction"], 0.5)
        self.assertEqual(float((grads["fc"] == 0).double().mean()), 0.5)

    def test_activation_figures_over_the_first_four_examples(self):
        stats, _, _, _, outputs, _ = self.step(STYLES, "AttributeNet", [1, 8, 8])
        sample = torch.sigmoid(outputs["conv1"][:4]).double()
        self.assertClose(stats["conv1"]["activationMean"], float(sample.mean()), msg="mean")
        self.assertClose(stats["conv1"]["activationStd"], float(sample.std(unbiased=False)), rel=1e-4, msg="std")
        expected = float(((sample > 0.99) | (sample < 0.01)).double().mean())
        self.assertEqual(stats["conv1"]["saturatedFraction"], expected)
        self.assertNotIn("deadFraction", stats["conv1"])
        self.assertIn("deadFraction", stats["conv2"])  # F.relu(x)
        self.assertNotIn("deadFraction", stats["fc"])
        self.assertNotIn("saturatedFraction", stats["fc"])

    def test_functional_tanh_figures(self):
        """torch.tanh in forward: the recorder applies it itself, after the step, as 2σ(2x) − 1."""
        stats, _, _, _, outputs, _ = self.step(STYLES, "BatchNormTanhNet", [1, 8, 8])
        sample = torch.tanh(outputs["bn1"][:4]).double()
        self.assertClose(stats["conv1"]["activationMean"], float(sample.mean()), rel=1e-5, msg="mean")
        self.assertClose(stats["conv1"]["activationStd"], float(sample.std(unbiased=False)), rel=1e-4, msg="std")
        self.assertEqual(stats["conv1"]["saturatedFraction"], float((sample.abs() > 0.99).double().mean()))

    def test_activation_figures_read_what_the_activation_reads(self):
        cases = [  # net, layer, the module whose output the activation receives
            ("ReluThenBatchNormNet", "conv1", "conv1"),  # F.relu(self.conv1(x)); then self.bn1(x)
            ("SharedReluNet", "conv1", "bn1"), ("SharedReluNet", "conv2", "bn2"),  # one self.relu after each BN
            ("ContainerThenReluNet", "block.0", "block"),  # F.relu(self.block(x))
            ("ZipLoopNet", "convs.1", "bns.1"),  # for conv, bn in zip(...): F.relu(bn(conv(x)))
        ]
        for cls, layer, source in cases:
            with self.subTest(f"{cls}.{layer}"):
                stats, _, _, _, outputs, _ = self.step(STYLES if cls == "ZipLoopNet" else NETS, cls, [1, 8, 8])
                activated = torch.relu(outputs[source]).double()
                sample = activated[:4]
                self.assertClose(stats[layer]["activationMean"], float(sample.mean()), msg="mean")
                self.assertClose(stats[layer]["activationStd"], float(sample.std(unbiased=False)), rel=1e-4, msg="std")
                dead = float((activated.transpose(0, 1).reshape(activated.shape[1], -1).amax(dim=1) <= 0).double().mean())
                self.assertEqual(stats[layer]["deadFraction"], dead)

    def test_dead_fraction(self):
        def bias(value):
            def prepare(model):
                with torch.no_grad():
                    model.conv.weight.fill_(0.01)
                    model.conv.bias.fill_(value)
            return prepare

        dead, *_ = self.step(NETS, "DeadReluNet", [1, 6, 6], prepare=bias(-10.0))
        self.assertEqual(dead["conv"]["deadFraction"], 1.0)
        self.assertEqual(dead["conv"]["gradL2"], 0.0)
        self.assertEqual(dead["conv"]["gradZeroFraction"], 1.0)
        alive, *_ = self.step(NETS, "DeadReluNet", [1, 6, 6], prepare=bias(10.0))
        self.assertEqual(alive["conv"]["deadFraction"], 0.0)

    def test_saturated_fraction(self):
        def scale(factor):
            def prepare(model):
                with torch.no_grad():
                    model.hidden.weight.mul_(factor)
                    model.hidden.bias.zero_()
            return prepare

        x = torch.randn(8, 16, generator=torch.Generator().manual_seed(1))
        saturated, *_ = self.step(NETS, "SigmoidMlp", [16], prepare=scale(1000.0), x=x)
        self.assertGreater(saturated["hidden"]["saturatedFraction"], 0.95)
        calm, *_ = self.step(NETS, "SigmoidMlp", [16], prepare=scale(0.001), x=x)
        self.assertEqual(calm["hidden"]["saturatedFraction"], 0.0)

    def test_activation_every(self):
        model, model_map, _ = build_mapped(STYLES, "AttributeNet")
        recorder = recorder_for(model_map, activation_every=2)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        seen: List[bool] = []
        for step in range(3):
            inputs, targets = batch([1, 8, 8], seed=step)
            recorder.start_step(step)
            # A step that records no activations runs no hook at all (a hooked module takes torch's slower call path).
            hooked = sum(len(module._forward_hooks) for module in model.modules())
            self.assertEqual(hooked, len(recorder.taps) if step % 2 == 0 else 0)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(inputs), targets)
            loss.backward()
            recorder.before_update()
            optimizer.step()
            stats = recorder.after_update(step, loss)
            seen.append("activationMean" in stats["layers"][0])
            self.assertNotIn("accuracy", stats)
        recorder.detach()
        self.assertEqual(sum(len(module._forward_hooks) for module in model.modules()), 0)
        self.assertEqual(seen, [True, False, True])

    def test_non_finite_gradient(self):
        model, model_map, _ = build_mapped(STYLES, "AttributeNet")
        recorder = recorder_for(model_map)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        inputs, targets = batch([1, 8, 8])
        recorder.start_step(0)
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        with torch.no_grad():
            model.conv1.weight.grad.view(-1)[0] = float("inf")
            model.conv1.weight.grad.view(-1)[1] = float("nan")
            model.fc.weight.grad.view(-1)[5] = float("-inf")
        recorder.before_update()
        optimizer.step()
        stats = recorder.after_update(0, loss)
        recorder.detach()
        by_name = {entry["layer"]: entry for entry in stats["layers"]}
        self.assertEqual(by_name["conv1"]["gradNonFinite"], 2)
        self.assertEqual(by_name["fc"]["gradNonFinite"], 1)
        self.assertEqual(by_name["conv2"]["gradNonFinite"], 0)
        self.assertTrue(math.isnan(by_name["conv1"]["gradL2"]))
        self.assertEqual(by_name["fc"]["gradMaxAbs"], math.inf)
        # On the wire: NaN as null, ±Infinity as ±1e999, readable by JSON.parse.
        line = encode_message({"type": "step", "stats": stats})
        self.assertNotIn("NaN", line)
        self.assertNotIn("Infinity", line)
        decoded = parse_js_json(line)
        layers = {entry["layer"]: entry for entry in decoded["stats"]["layers"]}
        self.assertIsNone(layers["conv1"]["gradL2"])
        self.assertEqual(layers["fc"]["gradMaxAbs"], math.inf)

    def test_reduced_over_identical_ranks_equals_one_rank(self):
        """`reduce` sums the step's figures over the ranks; two ranks with the same batch must read as one."""
        alone, reduced = (sgd_step(*build_mapped(STYLES, "ZipLoopNet")[:2], [1, 8, 8], reduce) for reduce in (None, lambda t: t * 2))
        self.assertAlmostEqual(alone["loss"], reduced["loss"], places=6)
        for one, other in zip(alone["layers"], reduced["layers"]):
            self.assertEqual(set(one), set(other))
            for key, value in one.items():
                if key != "layer":
                    self.assertTrue(math.isclose(value, other[key], rel_tol=1e-6, abs_tol=1e-12), f"{one['layer']}.{key}: {value} != {other[key]}")
        self.assertTrue(any("deadFraction" in entry for entry in reduced["layers"]))

    def shared_step(self, world: int, poison: bool):
        """One SGD step of `world` identical "ranks" (threads, same model copy and batch) whose
        recorders share the layers (share_with_ranks), with a reduce that sums over them at a
        barrier, as the all-reduce does; each rank's StepStats. `poison`: an inf in one gradient."""
        import threading

        barrier = threading.Barrier(world)
        lock = threading.Lock()
        rounds: List[Dict[int, torch.Tensor]] = []

        def all_reduce(rank: int, calls: List[int]) -> Callable[[torch.Tensor], torch.Tensor]:
            def reduce(tensor: torch.Tensor) -> torch.Tensor:
                index = calls[0]
                calls[0] += 1
                with lock:
                    while len(rounds) <= index:
                        rounds.append({})
                    rounds[index][rank] = tensor.clone()
                barrier.wait()
                total = sum(rounds[index].values())
                barrier.wait()
                return total
            return reduce

        results: Dict[int, dict] = {}
        errors: List[BaseException] = []

        # Built one after the other: torch's global generator is not for two threads at once.
        built = [build_mapped(STYLES, "BlockNet", [1, 8, 8])[:2] for _ in range(world)]

        def run(rank: int) -> None:
            try:
                model, model_map = built[rank]
                results[rank] = sgd_step(model, model_map, [1, 8, 8], all_reduce(rank, [0]), (rank, world), poison)
            except BaseException as error:  # noqa: B902 — reported by the test
                errors.append(error)
                barrier.abort()

        threads = [threading.Thread(target=run, args=(rank,)) for rank in range(world)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual(errors, [])
        return results

    def test_ranks_sharing_the_layers_read_as_ranks_each_computing_all(self):
        """Each rank computes its share of the layers' gradient and weight figures, the sum fills in
        the rest: the same StepStats as every rank computing every layer (the reduce before this)."""
        for poison in (False, True):
            with self.subTest(poison=poison):
                reference_model, reference_map, _ = build_mapped(STYLES, "BlockNet", [1, 8, 8])
                reference = sgd_step(reference_model, reference_map, [1, 8, 8], lambda t: t * 2, poison=poison)
                shared = self.shared_step(2, poison)
                self.assertEqual(set(shared), {0, 1})
                for rank in (0, 1):
                    same_figures(self, reference, shared[rank], f"rank {rank}")
                if poison:
                    self.assertEqual(reference["layers"][1]["gradNonFinite"], 1.0)

    def test_shares_are_balanced_by_size_and_cover_every_layer_once(self):
        model, model_map, _ = build_mapped(STYLES, "BlockNet", [1, 8, 8])
        sizes = [layer.weight.numel() for layer in model_map.instrumented()]
        shares = []
        for rank in range(3):
            recorder = StepRecorder(model_map.instrumented(), model_map.taps())
            recorder.share_with_ranks(rank, 3)
            shares.append(recorder._owned)
        self.assertEqual(sorted(i for share in shares for i in share), list(range(len(sizes))))
        loads = [sum(sizes[i] for i in share) for share in shares]
        self.assertLessEqual(max(loads) - min(loads), max(sizes))

    def test_reduced_dead_only_where_dead_on_every_rank(self):
        """A channel dead here but alive on the other rank is alive in the world's step."""
        model, model_map, _ = build_mapped(NETS, "DeadReluNet", [1, 6, 6])
        with torch.no_grad():
            model.conv.weight.fill_(0.01)
            model.conv.bias.fill_(-10.0)
        channels = model.conv.out_channels

        def other_rank_alive(local: torch.Tensor) -> torch.Tensor:
            # The other rank sends the same figures except its dead flags (the tail): all 0, alive.
            other = local.clone()
            other[-channels:] = 0
            return local + other

        stats = sgd_step(model, model_map, [1, 6, 6], other_rank_alive)
        self.assertEqual({entry["layer"]: entry for entry in stats["layers"]}["conv"]["deadFraction"], 0.0)

    def test_encode_message_keeps_strings(self):
        message = {"type": "error", "message": "NaN and Infinity in \"quotes\" \\", "value": float("nan"), "low": float("-inf")}
        decoded = parse_js_json(encode_message(message))
        self.assertEqual(decoded["message"], message["message"])
        self.assertIsNone(decoded["value"])
        self.assertEqual(decoded["low"], -math.inf)


# ──── one host sync per step ────

# What counts as a host read-back: every Tensor method that hands a value to Python.
SYNC_METHODS = ("tolist", "item", "__float__", "__int__", "__bool__", "__index__", "numpy", "__len__", "__iter__")


@contextmanager
def counting_syncs() -> Iterator[Dict[str, int]]:
    counts = {name: 0 for name in SYNC_METHODS}
    saved = {}
    for name in SYNC_METHODS:
        saved[name] = torch.Tensor.__dict__.get(name)
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, __name=name, __original=original, **kwargs):
            counts[__name] += 1
            return __original(self, *args, **kwargs)

        setattr(torch.Tensor, name, wrapper)
    try:
        yield counts
    finally:
        for name in SYNC_METHODS:
            if saved[name] is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, saved[name])


class HostSyncs(unittest.TestCase):
    def test_one_read_back_per_step(self):
        """Counted: Tensor.tolist / item / __float__ / __int__ / __bool__ / __index__ / numpy /
        __len__ / __iter__ calls made while the recorder's hooks and methods run — in the forward
        pass (activation hooks), before_update and after_update. The optimizer's own syncs (torch
        2.x Adam reads its step count with .item()) are not ours and are not counted."""
        for cls in ("BlockNet", "AttributeNet", "BatchNormTanhNet"):
            with self.subTest(cls):
                model, model_map, _ = build_mapped(STYLES, cls)
                recorder = recorder_for(model_map)
                optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
                for step in range(2):
                    inputs, targets = batch([1, 8, 8], seed=step)
                    recorder.start_step(step)
                    optimizer.zero_grad(set_to_none=True)
                    with counting_syncs() as forward_counts:
                        output = model(inputs)
                    loss = F.cross_entropy(output, targets)
                    loss.backward()
                    with counting_syncs() as before_counts:
                        recorder.before_update()
                    optimizer.step()
                    with counting_syncs() as after_counts:
                        accuracy = (output.argmax(dim=1) == targets).float().mean()
                        stats = recorder.after_update(step, loss, accuracy)
                    self.assertEqual(sum(forward_counts.values()), 0, forward_counts)
                    self.assertEqual(sum(before_counts.values()), 0, before_counts)
                    self.assertEqual(after_counts["tolist"], 1, after_counts)
                    self.assertEqual(sum(after_counts.values()), 1, after_counts)
                    self.assertIn("activationMean", stats["layers"][0])
                recorder.detach()

    def test_the_counter_counts(self):
        with counting_syncs() as counts:
            torch.ones(2).tolist()
            torch.ones(()).item()
            float(torch.ones(()))
        self.assertEqual((counts["tolist"], counts["item"], counts["__float__"]), (1, 1, 1))


# ──── bit-exact gradients ────

class BitExact(unittest.TestCase):
    """The instrumented step (recorder attached, the trainer's loop) against plain PyTorch: same
    seed, same data, same optimizer; every parameter's gradient equal bit for bit, every step."""

    def compare(self, path, cls, shape, steps=3, optimizer=lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)):
        from .support import import_file

        instrumented, model_map, _ = build_mapped(path, cls, shape, seed=11)
        torch.manual_seed(11)
        plain = getattr(import_file(path), cls)()
        plain.train()
        for (name, a), (_, b) in zip(instrumented.named_parameters(), plain.named_parameters()):
            self.assertTrue(torch.equal(a, b), f"initial {name}")
        recorder = recorder_for(model_map)
        self.assertTrue(len(recorder.taps) > 0)
        opt_a, opt_b = optimizer(instrumented.parameters()), optimizer(plain.parameters())
        for step in range(steps):
            inputs, targets = batch(shape, seed=100 + step)
            recorder.start_step(step)
            opt_a.zero_grad(set_to_none=True)
            loss_a = F.cross_entropy(instrumented(inputs), targets)
            loss_a.backward()
            recorder.before_update()
            opt_a.step()
            stats = recorder.after_update(step, loss_a)

            opt_b.zero_grad(set_to_none=True)
            loss_b = F.cross_entropy(plain(inputs), targets)
            loss_b.backward()
            opt_b.step()

            self.assertTrue(torch.equal(loss_a, loss_b), f"step {step} loss")
            for (name, a), (_, b) in zip(instrumented.named_parameters(), plain.named_parameters()):
                self.assertTrue(torch.equal(a.grad, b.grad), f"step {step} gradient of {name}")
                self.assertTrue(torch.equal(a, b), f"step {step} {name} after the update")
            for (name, a), (_, b) in zip(instrumented.named_buffers(), plain.named_buffers()):
                self.assertTrue(torch.equal(a, b), f"step {step} buffer {name}")
            self.assertTrue(all(math.isfinite(entry["gradL2"]) for entry in stats["layers"]))
        recorder.detach()

    def test_conv_bn_inplace_relu_blocks(self):
        self.compare(STYLES, "BlockNet", [1, 8, 8])

    def test_shared_inplace_relu(self):
        self.compare(NETS, "SharedReluNet", [1, 8, 8])

    def test_sigmoid_net(self):
        self.compare(STYLES, "AttributeNet", [1, 8, 8], optimizer=lambda p: torch.optim.Adam(p, lr=0.01))

    def test_vanishing_sample(self):
        self.compare(os.path.join(SAMPLES, "vanishing_sigmoid.py"), "VanishingCNN", [1, 12, 12], steps=2)


# ──── comparing StepStats ────

def same_figures(test: unittest.TestCase, a, b, where: str) -> None:
    """Two StepStats equal figure for figure (NaN equal to NaN), layer by layer."""
    test.assertEqual(a.keys(), b.keys(), where)
    for key in a:
        if key == "layers":
            continue
        test.assertTrue(a[key] == b[key] or (math.isnan(a[key]) and math.isnan(b[key])), f"{where}: {key} {a[key]} != {b[key]}")
    for x, y in zip(a["layers"], b["layers"]):
        test.assertEqual(x.keys(), y.keys(), f"{where} {x['layer']}")
        for key in x:
            same = x[key] == y[key] or (isinstance(x[key], float) and math.isnan(x[key]) and math.isnan(y[key]))
            test.assertTrue(same, f"{where} {x['layer']} {key}: {x[key]} != {y[key]}")


if __name__ == "__main__":
    unittest.main()
