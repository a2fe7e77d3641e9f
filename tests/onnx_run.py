"""Run an ONNX model in onnxruntime on raw little-endian f32 input; used by tests/onnx_export.rs.

usage: onnx_run.py MODEL.onnx INPUT.f32 DIMS OUT_DIR
DIMS is the input's shape, comma-separated (e.g. 2,3,32,32). Each output is written to
OUT_DIR/NAME.f32, and one line per output, `NAME d0,d1,...`, is printed.
"""

import sys

import numpy as np
import onnxruntime as ort


def main():
    model, data, dims, out_dir = sys.argv[1:5]
    shape = [int(d) for d in dims.split(",")]
    x = np.fromfile(data, dtype="<f4").reshape(shape)
    # No graph optimisations: the test compares the exported graph itself with netc's.
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    outputs = session.run(None, {inp.name: x})
    for meta, value in zip(session.get_outputs(), outputs):
        value.astype("<f4").tofile(f"{out_dir}/{meta.name}.f32")
        print(meta.name, ",".join(str(d) for d in value.shape))


if __name__ == "__main__":
    main()
