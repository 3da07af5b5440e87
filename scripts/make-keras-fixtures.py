"""Writes the real-Keras fixtures of test/fixtures/keras/: `.keras` and legacy `.h5` files of
sample models, each trained a few steps (so the weights are not the initial ones), with a
recorded input and Keras' own prediction for it (`<name>.expected.json`), plus the bad-input
files only Keras can write (weights without a model, a GRU TF.js cannot run).

Run in a venv with Keras 3 (FACTS.md, "Python on these machines"):
    python3 -m venv .cache/kvenv && .cache/kvenv/bin/pip install keras h5py jax jaxlib
    KERAS_BACKEND=jax .cache/kvenv/bin/python scripts/make-keras-fixtures.py
The files are committed; tests read them and need no Keras.
"""
import importlib.util
import json
import os
import pathlib
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "keras"


def sample_model(file_name):
    """The model a samples/keras/*.py builds, imported as the user's code would be."""
    spec = importlib.util.spec_from_file_location(file_name[:-3], ROOT / "samples" / "keras" / file_name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.model


def small_bn():
    """BatchNormalization: its moving statistics follow the trainable weights in Keras 3's .h5 lists."""
    return keras.Sequential(
        [
            keras.Input(shape=(12, 12, 3)),
            layers.Conv2D(6, 3, activation=None, kernel_initializer="he_normal"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.BatchNormalization(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(16, activation="tanh"),
            layers.Dense(4, activation="softmax", name="scores"),
        ],
        name="small_bn",
    )


def nested():
    """A Sequential block inside a functional model (the Keras 3 normalisation used to fail on it)."""
    block = keras.Sequential(
        [keras.Input(shape=(14, 14, 4)), layers.Conv2D(6, 3, padding="same", activation="relu"), layers.BatchNormalization(), layers.Conv2D(6, 3, padding="same", activation="relu")],
        name="block",
    )
    inputs = keras.Input(shape=(16, 16, 1), name="image")
    x = layers.Conv2D(4, 3, activation="relu")(inputs)
    x = block(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(5, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="nested")


def train_a_little(model, rng):
    shape = model.inputs[0].shape[1:]
    classes = model.outputs[0].shape[-1]
    x = rng.standard_normal((64, *shape)).astype("float32")
    y = rng.integers(0, classes, 64)
    if getattr(model, "optimizer", None) is None:  # the samples compile themselves; their training config is part of the fixture
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # 4 steps: the weights are no longer their initial values


def write(name, model, rng):
    train_a_little(model, rng)
    model.save(OUT / f"{name}.keras")
    model.save(OUT / f"{name}.h5")
    x = rng.standard_normal((2, *model.inputs[0].shape[1:])).astype("float32")
    prediction = model.predict(x, verbose=0)
    weights = {}
    for layer in model.layers:
        # Every weight's sum and first value, by layer name: the tests check each lands in its layer.
        weights[layer.name] = [{"shape": list(w.shape), "sum": float(np.sum(w)), "first": float(np.ravel(w)[0])} for w in layer.get_weights()]
    expected = {
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "input": x.tolist(),
        "prediction": prediction.tolist(),
        "weights": weights,
    }
    (OUT / f"{name}.expected.json").write_text(json.dumps(expected) + "\n")
    print(f"{name}: {model.count_params()} params", file=sys.stderr)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    write("vanishing_sequential", sample_model("vanishing_sequential.py"), rng)
    write("vanishing_functional", sample_model("vanishing_functional.py"), rng)
    write("small_bn", small_bn(), rng)
    write("nested", nested(), rng)

    # Bad input Keras writes itself: weights without a model config, and a GRU with
    # reset_after=True (the Keras default), which TF.js cannot run.
    weights_only = small_bn()
    weights_only.save_weights(OUT / "weights_only.weights.h5")
    (OUT / "weights_only.weights.h5").rename(OUT / "weights_only.h5")
    gru = keras.Sequential([keras.Input(shape=(6, 3)), layers.GRU(4), layers.Dense(2, activation="softmax")], name="gru")
    gru.save(OUT / "gru.keras")


if __name__ == "__main__":
    main()
