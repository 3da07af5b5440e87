"""watch(): run files of real training — one process, DDP on 2 gloo ranks (CPU, 127.0.0.1), a rank
killed mid-run, gradient accumulation with no_sync(), GradScaler — against figures computed
independently of the run file."""
from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import socket
import tempfile
import unittest
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from gradient_lens.layers import ModelMap, execution_order
from gradient_lens.stats import ACTIVATION_SAMPLE_EXAMPLES, SATURATION_BANDS, stats_kind

from . import watch_workers as workers
from .support import parse_js_json, slice_range

GRADIENT_FIGURES = ("gradL2", "gradRms", "gradMeanAbs", "gradMaxAbs", "gradZeroFraction", "gradNonFinite", "weightL2", "updateRatio")


def read_run(path: str) -> List[Dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [parse_js_json(line) for line in handle if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def close_enough(a: float, b: float, relative: float) -> bool:
    return a == b or abs(a - b) <= relative * max(abs(a), abs(b), 1e-12)


def run_ranks(world: int, run_dir: str, every: int, kill_rank_at: Optional[int] = None, accumulate: bool = False, timeout: float = 120.0) -> List[Optional[int]]:
    """Starts `world` ranks as spawned processes and returns their exit codes (None: still running after the timeout)."""
    context = multiprocessing.get_context("spawn")
    port = free_port()
    processes = [context.Process(target=workers.ddp_rank, args=(rank, world, port, run_dir, every, kill_rank_at),
                                 kwargs={"accumulate": accumulate}, daemon=True) for rank in range(world)]
    for process in processes:
        process.start()
    codes: List[Optional[int]] = []
    for process in processes:
        process.join(timeout)
        codes.append(process.exitcode)
        if process.exitcode is None:
            process.kill()
    return codes


def only_file(run_dir: str) -> str:
    files = [name for name in os.listdir(run_dir) if name.endswith(".jsonl")]
    assert len(files) == 1, f"expected one run file in {run_dir}, found {files}"
    return os.path.join(run_dir, files[0])


def expected_reduced_activations(every: int) -> Dict[int, Dict[str, Dict[str, float]]]:
    """Per logged step and layer, the activation figures of both ranks' halves (each the recorder's
    own sample of its half, replayed on one process at the same weights), pooled as the all-reduce
    defines: mean and spread over both samples together, the saturated share of both, and a
    channel dead only where it is dead in both halves."""
    torch.set_num_threads(1)
    model = workers.fresh_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    model.eval()
    order, shapes, _ = execution_order(model, torch.zeros(2, *workers.SHAPE))
    model.train()
    model_map = ModelMap(model, None, workers.__file__, order, shapes)
    # Each tap's sample (the first examples, activated, flat) and, for ReLUs, each channel's maximum over the batch.
    seen: Dict[str, Tuple[torch.Tensor, Optional[torch.Tensor]]] = {}
    handles = []
    for tap in model_map.taps():
        def hook(_m: Any, _i: Any, output: torch.Tensor, tap: Any = tap) -> None:
            output = output.detach()
            sample = output[:ACTIVATION_SAMPLE_EXAMPLES]
            values = (tap.apply(sample) if tap.apply is not None else sample.clone()).reshape(-1)
            maxima = output.transpose(0, 1).reshape(output.shape[1], -1).amax(dim=1) if stats_kind(tap.kind) == "relu" else None
            seen[tap.layer] = (values, maxima)
        handles.append(tap.source.register_forward_hook(hook))
    kinds = {tap.layer: stats_kind(tap.kind) for tap in model_map.taps()}
    expected: Dict[int, Dict[str, Dict[str, float]]] = {}
    for step, (x, y) in enumerate(workers.batches()):
        if step % every == 0:
            halves: List[Dict[str, Tuple[torch.Tensor, Optional[torch.Tensor]]]] = []
            with torch.no_grad():
                for rank in range(2):
                    seen.clear()
                    model(x[rank * workers.HALF_BATCH:(rank + 1) * workers.HALF_BATCH])
                    halves.append(dict(seen))
            expected[step] = {}
            for name in halves[0]:
                values = torch.cat([h[name][0] for h in halves]).double()
                mean = float(values.mean())
                entry = {"activationMean": mean, "activationStd": float(values.std(unbiased=False))}
                kind = kinds[name]
                if kind == "relu":
                    dead_everywhere = torch.stack([~(h[name][1] > 0) for h in halves]).all(dim=0)  # type: ignore[operator]
                    entry["deadFraction"] = float(dead_everywhere.double().mean())
                elif kind in SATURATION_BANDS:
                    centre, half = SATURATION_BANDS[kind]
                    entry["saturatedFraction"] = float(((values - centre).abs() > half).double().mean())
                expected[step][name] = entry
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    for handle in handles:
        handle.remove()
    return expected


class WatchTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="gl-watch-")

    def tearDown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def folder(self, name: str) -> str:
        path = os.path.join(self.dir, name)
        os.makedirs(path, exist_ok=True)
        return path

    def assert_same_gradients(self, got: List[Dict[str, Any]], want: List[Dict[str, Any]], relative: float = 1e-5) -> None:
        got_steps = [r for r in got if r["type"] == "step"]
        want_steps = [r for r in want if r["type"] == "step"]
        self.assertEqual([r["stats"]["step"] for r in got_steps], [r["stats"]["step"] for r in want_steps])
        for g, w in zip(got_steps, want_steps):
            self.assertTrue(close_enough(g["stats"]["loss"], w["stats"]["loss"], relative), (g["stats"]["step"], g["stats"]["loss"], w["stats"]["loss"]))
            self.assertEqual([l["layer"] for l in g["stats"]["layers"]], [l["layer"] for l in w["stats"]["layers"]])
            for gl, wl in zip(g["stats"]["layers"], w["stats"]["layers"]):
                for key in GRADIENT_FIGURES:
                    self.assertTrue(close_enough(gl[key], wl[key], relative),
                                    f"step {g['stats']['step']} {gl['layer']} {key}: {gl[key]} vs {wl[key]}")


class Distributed(WatchTestCase):
    def test_two_gloo_ranks_write_one_file_equal_to_one_process_over_the_full_batch(self) -> None:
        reference = read_run(workers.single_process(self.folder("single"), every=2))
        ddp_dir = self.folder("ddp")
        self.assertEqual(run_ranks(2, ddp_dir, every=2), [0, 0])
        records = read_run(only_file(ddp_dir))
        header = records[0]
        self.assertEqual(header["type"], "header")
        self.assertEqual((header["worldSize"], header["rankCount"], header["backend"], header["distributed"]), (2, 2, "gloo", True))
        # DDP's `module.` prefix is gone; the layers point at their constructor calls in the workers' file.
        names = [layer["name"] for layer in header["layers"]]
        self.assertEqual(names, ["conv1", "act1", "block.0", "block.1", "fc"])
        by_name = {layer["name"]: layer for layer in header["layers"]}
        self.assertEqual(slice_range(workers.__file__, by_name["conv1"]["site"]["range"]), "nn.Conv2d(1, 4, 3)")
        self.assertEqual(slice_range(workers.__file__, by_name["block.0"]["site"]["range"]), "nn.Conv2d(4, 6, 3)")
        self.assertEqual(by_name["block.0"]["site"]["container"], "sequential")
        self.assertEqual(records[-1]["type"], "close")
        self.assertEqual(records[-1]["status"], "completed")
        self.assertEqual(records[-1]["steps"], workers.STEPS)
        # One all-reduce per logged step, on each rank (steps 0, 2, 4, 6), none on the others.
        for rank in range(2):
            with open(os.path.join(ddp_dir, f"collectives-{rank}.txt")) as handle:
                self.assertEqual(int(handle.read()), 4, f"rank {rank}")
        self.assert_same_gradients(records, reference)
        # Activation figures are the two ranks' combined, not rank 0's alone.
        expected = expected_reduced_activations(every=2)
        for record in (r for r in records if r["type"] == "step"):
            step = record["stats"]["step"]
            for layer in record["stats"]["layers"]:
                for key, value in expected[step][layer["layer"]].items():
                    self.assertTrue(close_enough(layer[key], value, 1e-4), f"step {step} {layer['layer']} {key}: {layer[key]} vs {value}")
        # …and they differ from the one-process figures over the first examples of the whole batch.
        self.assertNotAlmostEqual(records[1]["stats"]["layers"][0]["activationMean"], reference[1]["stats"]["layers"][0]["activationMean"], places=6)

    def test_accumulation_under_no_sync_records_real_steps_equal_to_the_full_batch(self) -> None:
        reference = read_run(workers.single_process(self.folder("single"), every=1))
        ddp_dir = self.folder("ddp")
        self.assertEqual(run_ranks(2, ddp_dir, every=1, accumulate=True), [0, 0])
        records = read_run(only_file(ddp_dir))
        self.assertEqual(len([r for r in records if r["type"] == "step"]), workers.STEPS)
        self.assert_same_gradients(records, reference)

    def test_a_killed_rank_fails_the_other_and_leaves_a_readable_file_without_close(self) -> None:
        ddp_dir = self.folder("ddp")
        codes = run_ranks(2, ddp_dir, every=1, kill_rank_at=4, timeout=90.0)
        self.assertEqual(codes[1], -9)
        # Rank 0 fails as PyTorch fails (gloo: the peer closed the connection), it does not hang.
        self.assertIsNotNone(codes[0])
        self.assertNotEqual(codes[0], 0)
        records = read_run(only_file(ddp_dir))
        self.assertEqual(records[0]["type"], "header")
        steps = [r["stats"]["step"] for r in records if r["type"] == "step"]
        self.assertEqual(steps, [0, 1, 2, 3])
        self.assertNotIn("close", [r["type"] for r in records])


class OneProcess(WatchTestCase):
    def test_logged_steps_every_n_with_activations_and_the_loss(self) -> None:
        records = read_run(workers.single_process(self.folder("single"), every=3))
        steps = [r for r in records if r["type"] == "step"]
        self.assertEqual([r["stats"]["step"] for r in steps], [0, 3, 6])
        for record in steps:
            self.assertTrue(math.isfinite(record["stats"]["loss"]))
            for layer in record["stats"]["layers"]:
                self.assertIn("activationMean", layer)
        self.assertEqual(records[-1]["loggedSteps"], 3)
        self.assertEqual(records[0]["numClasses"], 10)

    def test_one_host_read_back_per_logged_step_and_none_on_the_others(self) -> None:
        from gradient_lens import watch

        model = workers.fresh_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)  # SGD reads nothing back itself (1.13's Adam calls .item())
        run = watch(model, optimizer, every=5, run_dir=self.folder("runs"))
        reads: List[str] = []
        original_tolist, original_item = torch.Tensor.tolist, torch.Tensor.item

        def tolist(tensor: torch.Tensor) -> Any:
            reads.append("tolist")
            return original_tolist(tensor)

        def item(tensor: torch.Tensor) -> Any:
            reads.append("item")
            return original_item(tensor)

        torch.Tensor.tolist, torch.Tensor.item = tolist, item  # type: ignore[method-assign]
        try:
            per_step = []
            for x, y in workers.batches(8):
                before = len(reads)
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                run.log(loss)
                per_step.append(len(reads) - before)
        finally:
            torch.Tensor.tolist, torch.Tensor.item = original_tolist, original_item  # type: ignore[method-assign]
        run.close()
        self.assertEqual(per_step, [1, 0, 0, 0, 0, 1, 0, 0])
        self.assertEqual(set(reads), {"tolist"})

    def test_a_sequential_built_in_the_script_is_located_in_the_script(self) -> None:
        from gradient_lens import watch

        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3),
            torch.nn.ReLU(),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * 8 * 8, 10),
        )
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        with watch(model, optimizer, every=1, run_dir=self.folder("runs")) as run:
            x, y = workers.batches(1)[0]
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        header = read_run(run.path)[0]
        self.assertEqual(header["modelFile"], os.path.abspath(__file__))
        by_name = {layer["name"]: layer for layer in header["layers"]}
        self.assertEqual(slice_range(__file__, by_name["0"]["site"]["range"]), "torch.nn.Conv2d(1, 4, 3)")
        self.assertEqual(slice_range(__file__, by_name["3"]["site"]["range"]), "torch.nn.Linear(4 * 8 * 8, 10)")
        self.assertEqual(by_name["0"]["activation"], "relu")

    def test_the_step_figures_are_the_gradients_the_optimizer_used(self) -> None:
        from gradient_lens import watch

        torch.set_num_threads(1)
        model = workers.fresh_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        run = watch(model, optimizer, every=1, run_dir=self.folder("runs"))
        direct: List[float] = []
        for x, y in workers.batches(3):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            run.log(loss)  # before the step: kept for it
            loss.backward()
            direct.append(float(model.conv1.weight.grad.norm()))
            optimizer.step()
        run.close()
        steps = [r for r in read_run(run.path) if r["type"] == "step"]
        self.assertEqual([r["stats"]["step"] for r in steps], [0, 1, 2])
        for record, norm in zip(steps, direct):
            self.assertTrue(close_enough(record["stats"]["layers"][0]["gradL2"], norm, 1e-6))
        # close() removed the wrapper: the optimizer's own step again.
        self.assertNotIn("step", optimizer.__dict__)

    def test_accumulated_micro_batches_record_one_step_equal_to_the_full_batch(self) -> None:
        from gradient_lens import watch

        reference = read_run(workers.single_process(self.folder("single"), every=1))
        torch.set_num_threads(1)
        model = workers.fresh_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        run = watch(model, optimizer, every=1, run_dir=self.folder("accumulated"))
        for x, y in workers.batches():
            optimizer.zero_grad()
            for part in (slice(0, workers.HALF_BATCH), slice(workers.HALF_BATCH, None)):
                loss = F.cross_entropy(model(x[part]), y[part]) / 2
                loss.backward()
                run.log(loss * 2)
            optimizer.step()
        run.close()
        self.assert_same_gradients(read_run(run.path), reference)

    def test_a_step_without_a_logged_loss_has_no_loss_rather_than_a_false_nan(self) -> None:
        from gradient_lens import watch

        model = workers.fresh_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        with watch(model, optimizer, every=1, run_dir=self.folder("runs")) as run:
            for x, y in workers.batches(2):
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        records = read_run(run.path)
        self.assertEqual([("loss" in r["stats"]) for r in records if r["type"] == "step"], [False, False])
        self.assertEqual(records[-1]["status"], "completed")

    def test_a_script_that_never_calls_close_gets_a_close_record_saying_how_it_ended(self) -> None:
        import subprocess
        import sys

        script = (
            "import sys, torch, torch.nn.functional as F\n"
            "from gradient_lens import watch\n"
            "from tests import watch_workers as w\n"
            "model = w.fresh_model(); optimizer = torch.optim.SGD(model.parameters(), lr=0.05)\n"
            "watch(model, optimizer, every=1, run_dir=sys.argv[1])  # the result not even kept\n"
            "for x, y in w.batches(2):\n"
            "    optimizer.zero_grad(); F.cross_entropy(model(x), y).backward(); optimizer.step()\n"
            "if sys.argv[2] == 'fail': raise RuntimeError('out of data')\n"
        )
        for mode, code, status in (("ok", 0, "completed"), ("fail", 1, "failed")):
            folder = self.folder(mode)
            done = subprocess.run([sys.executable, "-c", script, folder, mode], cwd=os.path.dirname(os.path.dirname(__file__)),
                                  env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(__file__))}, capture_output=True, text=True, timeout=120)
            self.assertEqual(done.returncode, code, done.stderr)
            records = read_run(only_file(folder))
            self.assertEqual([r["type"] for r in records], ["header", "step", "step", "close"])
            self.assertEqual(records[-1]["status"], status)
            if mode == "fail":
                self.assertIn("RuntimeError: out of data", records[-1]["error"])

    def test_an_exception_in_the_with_block_closes_the_run_as_failed(self) -> None:
        from gradient_lens import watch

        model = workers.fresh_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        with self.assertRaises(ValueError):
            with watch(model, optimizer, every=1, run_dir=self.folder("runs")) as run:
                x, y = workers.batches(1)[0]
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
                raise ValueError("data loader broke")
        records = read_run(run.path)
        self.assertEqual((records[-1]["type"], records[-1]["status"]), ("close", "failed"))
        self.assertIn("data loader broke", records[-1]["error"])

    def test_an_lr_scheduler_made_after_watch_still_steps(self) -> None:
        from gradient_lens import watch

        model = workers.fresh_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        run = watch(model, optimizer, every=1, run_dir=self.folder("runs"))
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        for x, y in workers.batches(3):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            run.log(loss)
        run.close()
        rates = [r["learningRate"] for r in read_run(run.path) if r["type"] == "step"]
        self.assertEqual(rates, [0.05, 0.025, 0.0125])


HAS_CPU_SCALER = hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler")


@unittest.skipUnless(HAS_CPU_SCALER, "this torch has no CPU GradScaler (torch.amp.GradScaler arrived in 2.3; 1.13's torch.cuda.amp.GradScaler disables itself without CUDA)")
class Scaler(WatchTestCase):
    def test_gradients_are_unscaled_and_skipped_steps_counted(self) -> None:
        from gradient_lens import watch

        reference = read_run(workers.single_process(self.folder("single"), every=1, steps=3))
        torch.set_num_threads(1)
        model = workers.fresh_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
        run = watch(model, optimizer, every=1, scaler=scaler, run_dir=self.folder("scaled"))
        for step, (x, y) in enumerate(workers.batches(3) + [workers.batches(1)[0]]):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            # The fourth step overflows: GradScaler skips it.
            scaler.scale(loss * (float("inf") if step == 3 else 1.0)).backward()
            scaler.step(optimizer)
            scaler.update()
            run.log(loss)
        run.close()
        records = read_run(run.path)
        # Step figures of the unscaled gradients, equal to the plain fp32 run's.
        self.assert_same_gradients([r for r in records if r["type"] != "step" or r["stats"]["step"] < 3], reference)
        self.assertEqual(records[-1]["skippedSteps"], 1)
        self.assertEqual(records[-1]["steps"], 4)

    def test_bfloat16_autocast_records_finite_figures(self) -> None:
        from gradient_lens import watch

        model = workers.fresh_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        scaler = torch.amp.GradScaler("cpu")
        run = watch(model, optimizer, every=1, scaler=scaler, run_dir=self.folder("bf16"))
        for x, y in workers.batches(3):
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            run.log(loss)
        run.close()
        steps = [r for r in read_run(run.path) if r["type"] == "step"]
        self.assertGreaterEqual(len(steps), 1)
        for record in steps:
            self.assertTrue(all(math.isfinite(l["gradRms"]) and l["gradRms"] > 0 for l in record["stats"]["layers"]))


if __name__ == "__main__":
    unittest.main()
