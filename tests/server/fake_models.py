"""Tiny ONNX models honouring kprcnn's model contract, for the server tests (no PyTorch export needed).

bright_detector: one detection whose score is the mean brightness of the input (0..1): a black image has no
    detection above any threshold > 0, a white one scores 1.0. Everything else is constant, so the answers are known.
slow_detector: the same, plus a chain of `layers` DxD MatMul+Tanh fed from the input (so ONNX Runtime cannot fold
    it into a constant): a genuinely slow graph, for queue-full, deadline and drain tests.
sized_detector: the same, but the chain multiplies the input with itself (rows = 3 x height): its cost grows with the
    cube of the height, so ?size=1024 takes seconds and ?size=32 microseconds on one model -- for a run that must be
    cancelled followed by one that must be quick.
"""
import json

import numpy as np
from onnx import TensorProto, helper, numpy_helper
import onnx

COLORMAP = {"items": [{"label": "a", "color": [1, 0, 0]}, {"label": "b", "color": [0, 1, 0]},
                      {"label": "c", "color": [0, 0, 1]}],
            "skeleton": [["a", "b"], ["b", "c"]]}

# Model-input-pixel constants of the one detection (scaled back to the image by the postprocess).
BOX = [4.0, 6.0, 40.0, 30.0]
KEYPOINTS = [[10.0, 12.0, 1.0], [20.0, 18.0, 1.0], [30.0, 24.0, 1.0]]
KEYPOINT_SCORES = [1.5, 2.5, 3.5]


def _save(path, nodes, initializers, metadata):
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])]
    outputs = [
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 4]),
        helper.make_tensor_value_info("labels", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N"]),
        helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, ["N", 3, 3]),
        helper.make_tensor_value_info("keypoints_scores", TensorProto.FLOAT, ["N", 3]),
    ]
    graph = helper.make_graph(nodes, "fake", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="kprcnn-tests")
    model.ir_version = 8
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _detector(path, slow_layers=0, dim=512, sized=False):
    consts = {
        "boxes": np.asarray([BOX], np.float32),
        "labels": np.asarray([1], np.int64),
        "keypoints": np.asarray([KEYPOINTS], np.float32),
        "keypoints_scores": np.asarray([KEYPOINT_SCORES], np.float32),
    }
    inits = [numpy_helper.from_array(v, k + "_const") for k, v in consts.items()]
    nodes = [helper.make_node("Identity", [k + "_const"], [k]) for k in consts]
    inits.append(numpy_helper.from_array(np.asarray([1], np.int64), "shape1"))
    nodes += [
        helper.make_node("ReduceMean", ["input"], ["mean4"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["mean4", "shape1"], ["mean"]),
    ]
    if slow_layers and sized:
        # x0 = input as [3H, W]; x1 = tanh(x0 x0^T / W) is [3H, 3H]; then x_{i+1} = tanh(x_i x_i / 3H).
        inits += [numpy_helper.from_array(np.asarray([-1, 0], np.int64), "rows"),
                  numpy_helper.from_array(np.asarray(0, np.float32), "zero"),
                  numpy_helper.from_array(np.asarray(1e-3, np.float32), "scale")]
        nodes += [
            helper.make_node("Shape", ["input"], ["in_shape"]),
            helper.make_node("Gather", ["in_shape", "three"], ["w_dim"], axis=0),
            helper.make_node("Concat", ["minus_one", "w_dim"], ["shape2"], axis=0),
            helper.make_node("Reshape", ["input", "shape2"], ["flat"]),
            helper.make_node("Transpose", ["flat"], ["flat_t"], perm=[1, 0]),
            helper.make_node("MatMul", ["flat", "flat_t"], ["g"]),
            helper.make_node("Mul", ["g", "scale"], ["g_scaled"]),
            helper.make_node("Tanh", ["g_scaled"], ["x0"]),
        ]
        inits += [numpy_helper.from_array(np.asarray([3], np.int64), "three"),
                  numpy_helper.from_array(np.asarray([-1], np.int64), "minus_one")]
        inits = [i for i in inits if i.name != "rows"]
        for i in range(slow_layers):
            nodes.append(helper.make_node("MatMul", [f"x{i}", f"x{i}"], [f"m{i}"]))
            nodes.append(helper.make_node("Mul", [f"m{i}", "scale"], [f"s{i}"]))
            nodes.append(helper.make_node("Tanh", [f"s{i}"], [f"x{i + 1}"]))
        nodes += [
            helper.make_node("ReduceSum", [f"x{slow_layers}"], ["total"], keepdims=0),
            helper.make_node("Mul", ["total", "zero"], ["nothing"]),
            helper.make_node("Add", ["mean", "nothing"], ["scores"]),
        ]
    elif slow_layers:
        rng = np.random.default_rng(0)
        w = (rng.standard_normal((dim, dim)) / np.sqrt(dim)).astype(np.float32)
        inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.asarray(0, np.float32), "zero")]
        nodes.append(helper.make_node("Mul", ["w", "mean"], ["x0"]))  # depends on the input: not foldable
        for i in range(slow_layers):
            nodes.append(helper.make_node("MatMul", [f"x{i}", "w"], [f"m{i}"]))
            nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"x{i + 1}"]))  # bounded: never Inf/NaN
        nodes += [
            helper.make_node("ReduceSum", [f"x{slow_layers}"], ["total"], keepdims=0),
            helper.make_node("Mul", ["total", "zero"], ["nothing"]),
            helper.make_node("Add", ["mean", "nothing"], ["scores"]),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["mean"], ["scores"]))
    metadata = {"kprcnn.num_keypoints": "3", "kprcnn.colormap": json.dumps(COLORMAP)}
    return _save(path, nodes, inits, metadata)


def bright_detector(path):
    return _detector(path)


def slow_detector(path, layers=24, dim=512):
    return _detector(path, slow_layers=layers, dim=dim)


def sized_detector(path, layers=24):
    return _detector(path, slow_layers=layers, sized=True)


if __name__ == "__main__":
    # python3 fake_models.py DIR: writes DIR/bright.onnx, DIR/truncated.onnx and DIR/sized.onnx (for the
    # in-process C++ tests).
    import sys
    from pathlib import Path

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    data = bright_detector(out / "bright.onnx").read_bytes()
    (out / "truncated.onnx").write_bytes(data[: len(data) // 2])
    sized_detector(out / "sized.onnx")
