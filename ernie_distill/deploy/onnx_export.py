"""ONNX export with paddle2onnx, made correct for the student's LSTM.

paddle2onnx writes the LSTM node with an empty `sequence_lens` input, so on a padded batch the LSTM runs over the
padding and short rows get wrong logits. fix_lstm_sequence_lens feeds the model's `seq_len` input (cast to int32,
as ONNX requires) into every LSTM node.

It also writes the embedding's padding_idx as `Mul(weights, mask)` of two full-size constants, which doubles the
file: fold_constant_products stores the product once.

quantize_int8 writes a dynamically quantized copy (int8 weights, activations quantized on the fly) in which the LSTM
itself is quantized: ONNX Runtime only rewrites an LSTM whose W and R are 3-D initializers, while paddle2onnx builds
them with Unsqueeze/Concat/Slice nodes, so those constant subgraphs are folded into initializers first.
"""
import inspect
import logging
import os
import tempfile

import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import InputError

LSTM_SEQUENCE_LENS_INPUT = 4  # X, W, R, B, sequence_lens, initial_h, initial_c, P


def paddle_to_onnx(program_path, params_path, onnx_path, opset_version=11):
    import paddle2onnx

    options = {"enable_optimize": False, "verbose": False}
    if "optimize_tool" in inspect.signature(paddle2onnx.export).parameters:  # paddle2onnx 2 (for Paddle 3); 1.x has
        options["optimize_tool"] = "None"  # none. Its default optimizer pip-installs packages mid-conversion
    elif program_path.endswith(".json"):  # Paddle 3's PIR program: paddle2onnx 1.x reads only Paddle 2's .pdmodel
        raise InputError(f"paddle2onnx {paddle2onnx.__version__} cannot convert Paddle 3's "
                         f"{os.path.basename(program_path)}: pip install 'paddle2onnx>=2'")
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = os.path.join(tmp, "raw.onnx")
        paddle2onnx.export(program_path, params_path, raw_path, opset_version=opset_version, **options)
        model = onnx.load(raw_path)
    if any(node.op_type == "LSTM" for node in model.graph.node):
        fix_lstm_sequence_lens(model)
    fold_constant_products(model)
    onnx.checker.check_model(model)
    onnx.save(model, onnx_path)


def fix_lstm_sequence_lens(model, seq_len_input="seq_len"):
    graph = model.graph
    if seq_len_input not in [i.name for i in graph.input]:
        raise ValueError(f"the ONNX graph has no input named {seq_len_input!r} to feed the LSTM's sequence_lens")
    cast_output = f"{seq_len_input}_int32"
    graph.node.insert(0, helper.make_node("Cast", [seq_len_input], [cast_output], to=TensorProto.INT32,
                                          name=f"{seq_len_input}_to_int32"))
    for node in graph.node:
        if node.op_type == "LSTM":
            inputs = list(node.input) + [""] * max(0, LSTM_SEQUENCE_LENS_INPUT + 1 - len(node.input))
            inputs[LSTM_SEQUENCE_LENS_INPUT] = cast_output
            del node.input[:]
            node.input.extend(inputs)
    return model


def fold_constant_products(model):
    """Replace each Mul of two Constant nodes by one Constant holding the product; drop constants left unused."""
    graph = model.graph
    constants = {node.output[0]: node for node in graph.node if node.op_type == "Constant"}
    for node in list(graph.node):
        if node.op_type == "Mul" and all(name in constants for name in node.input):
            a, b = (numpy_helper.to_array(constants[name].attribute[0].t) for name in node.input)
            folded = helper.make_node("Constant", [], [node.output[0]], name=f"{node.output[0]}_folded",
                                      value=numpy_helper.from_array(a * b, node.output[0]))
            graph.node.insert(list(graph.node).index(node), folded)
            graph.node.remove(node)
    used = {name for node in graph.node for name in node.input} | {out.name for out in graph.output}
    for node in list(graph.node):
        if node.op_type == "Constant" and node.output[0] not in used:
            graph.node.remove(node)
    return model


def fold_constants(model):
    """The model with every constant subgraph computed once, by ONNX Runtime's basic graph optimizations."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = os.path.join(tmp, "folded.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath)


def quantize_int8(onnx_path, int8_path):
    """Dynamic int8 quantization of the LSTM, the embeddings (Gather) and the linear layers; returns the op counts."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        folded = os.path.join(tmp, "folded.onnx")
        onnx.save(fold_constants(onnx.load(onnx_path)), folded)
        root = logging.getLogger()
        level, _ = root.level, root.setLevel(logging.ERROR)  # the quantizer logs every tensor (and advice) on the root
        try:
            quantize_dynamic(folded, int8_path, op_types_to_quantize=["LSTM", "Gather", "MatMul", "Gemm"],
                             weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
    ops = [node.op_type for node in onnx.load(int8_path).graph.node]
    if "LSTM" in ops:
        raise RuntimeError("int8 export left the LSTM in float: ONNX Runtime did not rewrite it to DynamicQuantizeLSTM")
    return {op: ops.count(op) for op in sorted(set(ops))}
