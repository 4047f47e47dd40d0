"""An exported model and what runs it: the manifest, the ONNX export, the student's compiled CPU kernel and the
Predictor behind predict, serve and the Python API."""
