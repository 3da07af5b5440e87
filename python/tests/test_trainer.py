"""`python -m gradient_lens.trainer` as the engine runs it: a start request on stdin, JSON lines
on fd 3 (parsed with JSON.parse semantics), the user's prints on stdout/stderr, cancel, and bad
input as one `error` message with one line naming the file, exit code 2, no traceback of ours.

Each process imports torch (1–3 s of CPU), so the process runs start in a background thread when
this module is imported (unittest imports every test module before it runs one, so they overlap
the in-process suites) and the tests wait for their results. Bad inputs whose handling does not
depend on being a process of its own (model pick, constructor arguments, input and output shapes, a final softmax) run `trainer.run` in
this process, through the same message encoding (ProcessFreeBadInput)."""
from __future__ import annotations

import glob
import math
import os
import signal
import subprocess
import sys
import threading
import unittest
from typing import Dict, Optional

from .support import TrainerRun, model_path, run_all, run_in_process, slice_range, start_request


def _interpreter_without_torch() -> Optional[str]:
    """Another Python 3.9+ on this machine that cannot import torch (pyenv's), if any."""
    own = os.path.realpath(sys.executable)
    for candidate in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))):
        version = os.path.basename(os.path.dirname(os.path.dirname(candidate))).split(".")
        if len(version) < 2 or not version[1].isdigit() or int(version[1]) < 9 or os.path.realpath(candidate) == own:
            continue
        if subprocess.run([candidate, "-c", "import torch"], capture_output=True).returncode != 0:
            return candidate
    return None


def cancel_after_first_step(run: TrainerRun, message: dict) -> None:
    if message.get("type") == "step" and message["stats"]["step"] == 0:
        run.send({"type": "cancel"})


def terminate_after_first_step(run: TrainerRun, message: dict) -> None:
    if message.get("type") == "step" and message["stats"]["step"] == 0:
        run.process.send_signal(signal.SIGTERM)


def close_stdin_after_first_step(run: TrainerRun, message: dict) -> None:
    """The engine gone: its end of stdin closes."""
    if message.get("type") == "step" and message["stats"]["step"] == 0:
        assert run.process.stdin is not None
        run.process.stdin.close()


REQUESTS = {
    "printing": start_request(model_path("printing_net.py"), steps=3),
    "cancel": start_request(model_path("slow_steps.py"), steps=200),
    "stdin-closed": start_request(model_path("slow_steps.py"), steps=200),
    "sigterm": start_request(model_path("slow_steps.py"), steps=200),
    "syntax": start_request(model_path("syntax_error.py")),
    "raises": start_request(model_path("raises_at_import.py")),
    "sleeps": start_request(model_path("sleeps_at_import.py"), importTimeoutSeconds=1),
    "old-protocol": start_request(model_path("printing_net.py"), protocolVersion=0),
    "exploding": start_request(model_path("exploding.py"), steps=5),
}


class _Background:
    def __init__(self) -> None:
        self.runs: Dict[str, TrainerRun] = {}
        self.no_torch_python: Optional[str] = None
        self.failure: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, name="trainer-runs", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.runs = run_all(REQUESTS, parallel=3, on_message={"cancel": cancel_after_first_step,
                                                               "stdin-closed": close_stdin_after_first_step,
                                                               "sigterm": terminate_after_first_step})
            self.no_torch_python = _interpreter_without_torch()
            if self.no_torch_python:
                self.runs["no-torch"] = TrainerRun(start_request(model_path("printing_net.py")), python=self.no_torch_python).finish(60)
        except BaseException as error:  # reported by every test that needs a run
            self.failure = error

    def get(self, name: str) -> TrainerRun:
        self.thread.join(300)
        if self.failure is not None:
            raise AssertionError(f"the trainer runs failed: {self.failure!r}")
        if name not in self.runs:
            raise unittest.SkipTest(f"no {name} run on this machine")
        return self.runs[name]


_BACKGROUND = _Background()


class _Lookup:
    def __getitem__(self, name: str) -> TrainerRun:
        return _BACKGROUND.get(name)


RUNS = _Lookup()


class Runs(unittest.TestCase):
    def assertClean(self, run: TrainerRun) -> None:
        self.assertEqual(run.parse_errors, [], run.describe())
        self.assertNotIn("Traceback", run.stderr, run.describe())

    def test_ready_steps_done(self):
        run = RUNS["printing"]
        self.assertClean(run)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual([m["type"] for m in run.messages], ["ready", "step", "step", "step", "done"])
        ready = run.messages[0]
        self.assertEqual(ready["protocolVersion"], 1)
        self.assertEqual(ready["entry"], "PrintingNet")
        self.assertEqual(ready["inputShape"], [1, 8, 8])
        self.assertEqual(ready["numClasses"], 10)
        self.assertEqual(ready["data"], "synthetic")
        self.assertEqual((ready["optimizer"], ready["learningRate"], ready["loss"]), ("Adam", 0.001, "cross_entropy"))
        self.assertEqual(ready["warnings"], [])
        self.assertEqual([layer["name"] for layer in ready["layers"]], ["conv", "fc"])
        self.assertEqual(ready["layers"][0]["activation"], "relu")
        steps = run.of_type("step")
        self.assertEqual([s["stats"]["step"] for s in steps], [0, 1, 2])
        for step in steps:
            self.assertEqual([entry["layer"] for entry in step["stats"]["layers"]], ["conv", "fc"])
            self.assertTrue(math.isfinite(step["stats"]["loss"]))
            self.assertGreater(step["stats"]["layers"][0]["gradL2"], 0)
            self.assertIn("deadFraction", step["stats"]["layers"][0])
        self.assertEqual(run.messages[-1], {"type": "done", "cancelled": False, "stepsCompleted": 3})

    def test_user_prints_stay_on_stdout_and_stderr(self):
        run = RUNS["printing"]
        self.assertIn('{"type":"done","cancelled":false,"stepsCompleted":99}', run.stdout)
        self.assertIn("building PrintingNet", run.stdout)
        self.assertIn("forward (8, 1, 8, 8)", run.stdout)
        self.assertIn("no newline at the end", run.stdout)
        self.assertIn("importing printing_net", run.stderr)
        self.assertIn("forward on stderr", run.stderr)
        self.assertFalse(any("forward" in line or "stepsCompleted\":99" in line for line in run.raw_lines))

    def test_cancel(self):
        run = RUNS["cancel"]
        self.assertClean(run)
        self.assertEqual(run.returncode, 0, run.describe())
        done = run.messages[-1]
        self.assertEqual(done["type"], "done")
        self.assertTrue(done["cancelled"])
        self.assertGreaterEqual(done["stepsCompleted"], 1)
        self.assertLess(done["stepsCompleted"], 200)
        self.assertEqual(done["stepsCompleted"], len(run.of_type("step")))

    def test_stdin_closing_and_sigterm_cancel(self):
        for name in ("stdin-closed", "sigterm"):
            with self.subTest(name):
                run = RUNS[name]
                self.assertClean(run)
                self.assertEqual(run.returncode, 0, run.describe())
                done = run.messages[-1]
                self.assertEqual(done["type"], "done")
                self.assertTrue(done["cancelled"])
                self.assertLess(done["stepsCompleted"], 200)

    def test_non_finite_figures_parse_as_json(self):
        run = RUNS["exploding"]
        self.assertClean(run)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.messages[0]["learningRate"], 1e6)
        steps = run.of_type("step")
        self.assertEqual(len(steps), 5)
        text = "".join(run.raw_lines)
        self.assertTrue("null" in text or "1e999" in text, "no non-finite figure: the net did not explode")
        self.assertNotIn("NaN", text)
        self.assertNotIn("Infinity", text)
        last = steps[-1]["stats"]
        self.assertTrue(last["loss"] is None or not math.isfinite(last["loss"]), last["loss"])
        self.assertTrue(any(entry["gradNonFinite"] > 0 or entry["gradL2"] is None for entry in last["layers"]))


class BadInput(unittest.TestCase):
    def error_of(self, name: str, code: str = "bad-input", exit_code: int = 2, names_file: bool = True) -> dict:
        run = RUNS[name]
        self.assertEqual(run.parse_errors, [], run.describe())
        self.assertEqual(run.returncode, exit_code, run.describe())
        self.assertEqual([m["type"] for m in run.messages], ["error"], run.describe())
        error = run.messages[0]
        self.assertEqual(error["code"], code)
        self.assertNotIn("\n", error["message"])
        self.assertNotIn("Traceback", error["message"])
        self.assertNotIn("Traceback", run.stderr, run.describe())
        if names_file:
            self.assertIn(run.request["modelPath"], error["message"])
        return error

    def test_syntax_error(self):
        error = self.error_of("syntax")
        self.assertIn("syntax error", error["message"])
        self.assertIn("line 6", error["message"])

    def test_raises_at_import(self):
        error = self.error_of("raises")
        self.assertIn("RuntimeError: settings.yaml is missing", error["message"])
        self.assertIn("line 7", error["message"])
        self.assertIn("Traceback", error["detail"])

    def test_import_that_never_returns(self):
        error = self.error_of("sleeps", code="import-timeout")
        self.assertIn("within 1 s", error["message"])
        self.assertLess(RUNS["sleeps"].seconds, 45)  # torch import included; a hang would run to the 120 s kill

    def test_protocol_version_mismatch(self):
        error = self.error_of("old-protocol", code="internal", exit_code=3, names_file=False)
        self.assertIn("protocol 0", error["message"])

    def test_no_start_request(self):
        run = TrainerRun({"type": "cancel"})
        run.process.stdin.close()  # type: ignore[union-attr]
        run.finish(60)
        self.assertEqual(run.returncode, 3, run.describe())
        self.assertEqual([m["type"] for m in run.messages], ["error"])
        self.assertEqual(run.messages[0]["code"], "internal")

    def test_interpreter_without_torch(self):
        run = RUNS["no-torch"]
        self.assertEqual(run.returncode, 2, run.describe())
        [error] = run.messages
        self.assertEqual(error["code"], "no-torch")
        self.assertIn(_BACKGROUND.no_torch_python, error["message"])
        self.assertIn("python3-torch", error["message"])


class ProcessFreeBadInput(unittest.TestCase):
    """`trainer.run` in this process: the exit code it returns and its messages as read from fd 3."""

    def error_of(self, request: dict) -> dict:
        code, messages = run_in_process(request)
        self.assertEqual(code, 2, messages)
        self.assertEqual([m["type"] for m in messages], ["error"], messages)
        error = messages[0]
        self.assertEqual(error["code"], "bad-input")
        self.assertNotIn("\n", error["message"])
        self.assertIn(request["modelPath"], error["message"])
        return error

    def test_no_module(self):
        error = self.error_of(start_request(model_path("no_module.py")))
        self.assertIn("no nn.Module", error["message"])

    def test_missing_entry(self):
        error = self.error_of(start_request(model_path("two_candidates.py"), entry="Third"))
        for name in ("Third", "First", "Second"):
            self.assertIn(name, error["message"])
        self.assertEqual([c["name"] for c in error["candidates"]], ["First", "Second"])

    def test_several_candidates_pick_the_last(self):
        code, messages = run_in_process(start_request(model_path("two_candidates.py"), steps=2))
        self.assertEqual(code, 0, messages)
        self.assertEqual((messages[0]["entry"], messages[0]["inputShape"]), ("Second", [4]))
        self.assertEqual([m["type"] for m in messages], ["ready", "step", "step", "done"])
        code, messages = run_in_process(start_request(model_path("two_candidates.py"), steps=1, entry="First"))
        self.assertEqual((code, messages[0]["entry"]), (0, "First"))

    def test_forward_fails_for_the_input_shape(self):
        error = self.error_of(start_request(model_path("wrong_input.py")))
        self.assertIn("[2, 1, 8, 8]", error["message"])
        self.assertIn("FlatNet", error["message"])
        self.assertIn("line 13", error["message"])

    def test_output_of_the_wrong_shape(self):
        error = self.error_of(start_request(model_path("wrong_output.py")))
        self.assertIn("[2, 10, 6, 6]", error["message"])
        self.assertIn("[batch, classes]", error["message"])

    def test_missing_file(self):
        error = self.error_of(start_request(model_path("does_not_exist.py")))
        self.assertIn("no such file", error["message"])

    def test_sys_exit_in_forward(self):
        # The shape probe (eval mode) passes, so `ready` went out; then one error, exit 2.
        code, messages = run_in_process(start_request(model_path("exits_in_forward.py")))
        self.assertEqual(code, 2, messages)
        self.assertEqual([m["type"] for m in messages], ["ready", "error"], messages)
        error = messages[1]
        self.assertEqual(error["code"], "bad-input")
        self.assertIn(model_path("exits_in_forward.py"), error["message"])
        self.assertIn("training step 0 failed: SystemExit: forward gave up on line 15", error["message"])

    def test_output_width_against_num_classes(self):
        error = self.error_of(start_request(model_path("wrong_classes.py")))
        self.assertIn("returns 5 scores per example but NUM_CLASSES is 3", error["message"])

    def test_constructor_needs_arguments(self):
        error = self.error_of(start_request(model_path("needs_arguments.py")))
        for name in ("WideNet", "width", "depth", "DeepNet", "layers"):
            self.assertIn(name, error["message"])
        self.assertEqual(error["candidates"], [{"name": "WideNet", "parameters": ["width", "depth", "dropout=0.1"]},
                                               {"name": "DeepNet", "parameters": ["layers"]}])

    def test_block_from_another_file_and_an_entry_function(self):
        path = model_path("uses_block.py")
        code, messages = run_in_process(start_request(path, steps=1))
        self.assertEqual(code, 0, messages)
        ready = messages[0]
        self.assertEqual(ready["entry"], "ImportedBlockNet")
        layers = {layer["name"]: layer for layer in ready["layers"]}
        conv = layers["layer1.conv"]
        self.assertEqual(conv["site"]["file"], model_path("styles.py"))
        self.assertEqual(slice_range(model_path("styles.py"), conv["site"]["range"]),
                         "nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)")
        [outer] = conv["instantiatedAt"]
        self.assertEqual((outer["file"], outer["qualifiedName"], outer["className"]), (path, "layer1", "CustomCNNLayer"))
        self.assertEqual(slice_range(path, outer["range"]), "CustomCNNLayer(1, 4, 3, padding=1)")
        self.assertEqual(conv["activation"], "relu")
        self.assertEqual(slice_range(conv["activationFile"], conv["activationRange"]), "nn.ReLU(inplace=True)")
        self.assertEqual(layers["head.2"]["accessPath"], "self.head[2]")

        code, messages = run_in_process(start_request(path, steps=1, entry="make_sequential"))
        self.assertEqual(code, 0, messages)
        ready = messages[0]
        self.assertEqual(ready["entry"], "make_sequential")
        layers = {layer["name"]: layer for layer in ready["layers"]}
        self.assertEqual(list(layers), ["0", "1", "2", "3"])
        self.assertEqual(slice_range(path, layers["0"]["site"]["range"]), "nn.Conv2d(1, 4, 3)")
        self.assertEqual(layers["0"]["site"]["container"], "sequential")
        self.assertNotIn("instantiatedAt", layers["0"])
        self.assertEqual((layers["0"]["activation"], slice_range(path, layers["0"]["activationRange"])), ("tanh", "nn.Tanh()"))
        self.assertEqual(layers["0"]["accessPath"], "self[0]")

    def test_final_softmax(self):
        code, messages = run_in_process(start_request(model_path("softmax_end.py"), steps=2))
        self.assertEqual(code, 0, messages)
        ready = messages[0]
        self.assertEqual(ready["loss"], "nll")
        self.assertEqual(len(ready["warnings"]), 1)
        self.assertIn("Softmax", ready["warnings"][0])
        self.assertTrue(all(math.isfinite(s["stats"]["loss"]) for s in messages if s["type"] == "step"))


if __name__ == "__main__":
    unittest.main()
