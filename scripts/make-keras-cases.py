"""Writes the eval cases in Keras' own binary formats: each listed Keras 3 JSON case of
test/cases/ is built by real Keras 3 from its config (compile settings included), and saved as
`model.keras` in `<case>-keras/` and as legacy `model.h5` in `<case>-h5/`, with the initial
weights Keras drew (the labels are about the architecture and the settings, not one draw). The
case entries (same labels, format `keras` / `keras-h5`) are printed as JSON, for cases.json
(merged by Node so the file keeps the formatting eval.mjs --write-measured gives it):

    KERAS_BACKEND=numpy .cache/kvenv/bin/python scripts/make-keras-cases.py > /tmp/keras-cases.json
    node -e 'const fs=require("fs"),p="test/cases/cases.json",m=JSON.parse(fs.readFileSync(p)),n=JSON.parse(fs.readFileSync("/tmp/keras-cases.json"));
      m.cases=m.cases.filter(c=>!n.some(e=>e.id===c.id)).concat(n);fs.writeFileSync(p,JSON.stringify(m,null,2)+"\\n")'
"""
import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "numpy")
import keras  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
CASES = ROOT / "test" / "cases"
SOURCES = ["healthy-lenet-k3", "healthy-relu-he-k3", "vanishing-sigmoid10-k3", "exploding-high-lr-k3", "dying-relu-bias-k3", "lr-too-high-adam-k3"]


def main():
    manifest = json.loads((CASES / "cases.json").read_text())
    by_id = {case["id"]: case for case in manifest["cases"]}
    keras.utils.set_random_seed(1)
    entries = []
    for source in SOURCES:
        text = (CASES / source / "keras3.json").read_text()
        config = json.loads(text)
        compile_config = config.get("compile_config")
        if compile_config:
            # Generated case JSON may say `"learning_rate": 3` or `"momentum": 0`; Keras wants floats.
            settings = compile_config.get("optimizer", {}).get("config", {})
            for key in ("learning_rate", "momentum"):
                if isinstance(settings.get(key), int) and not isinstance(settings.get(key), bool):
                    settings[key] = float(settings[key])
        # model_from_json compiles the model from its compile_config too.
        model = keras.models.model_from_json(json.dumps(config))
        if compile_config and not getattr(model, "compiled", False):
            model.compile_from_config(compile_config)
        base = source[: -len("-k3")]
        for suffix, file_name, fmt in (("keras", "model.keras", "keras"), ("h5", "model.h5", "keras-h5")):
            case_id = f"{base}-{suffix}"
            folder = CASES / case_id
            folder.mkdir(exist_ok=True)
            model.save(folder / file_name)
            entry = {key: value for key, value in by_id[source].items() if key not in ("measured", "measuredEngine")}
            entry.update({"id": case_id, "format": fmt, "source": f"{source} built and saved by Keras {keras.__version__} (scripts/make-keras-cases.py)"})
            entries.append(entry)
    print(json.dumps(entries, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
