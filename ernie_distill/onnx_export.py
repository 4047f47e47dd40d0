"""ONNX export with paddle2onnx, made correct for the student's LSTM.

paddle2onnx writes the LSTM node with an empty `sequence_lens` input, so on a padded batch the LSTM runs over the
padding and short rows get wrong logits. fix_lstm_sequence_lens feeds the model's `seq_len` input (cast to int32,
as ONNX requires) into every LSTM node.
"""
import os
import tempfile

import onnx
from onnx import TensorProto, helper

LSTM_SEQUENCE_LENS_INPUT = 4  # X, W, R, B, sequence_lens, initial_h, initial_c, P


def paddle_to_onnx(program_path, params_path, onnx_path, opset_version=11):
    import paddle2onnx

    with tempfile.TemporaryDirectory() as tmp:
        raw_path = os.path.join(tmp, "raw.onnx")
        # optimize_tool="None": the default optimizer pip-installs packages in the middle of a conversion
        paddle2onnx.export(program_path, params_path, raw_path, opset_version=opset_version, enable_optimize=False,
                           optimize_tool="None")
        model = onnx.load(raw_path)
    if any(node.op_type == "LSTM" for node in model.graph.node):
        fix_lstm_sequence_lens(model)
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
