"""The Triton python-backend model `pigweight triton-repo --backend python` writes.

It runs the repository's `1/model.onnx` (the pixel-input model, the same file the onnxruntime
backend would load) with onnxruntime, for Triton builds that have only the python backend, such
as the server PyPI's nvidia-pytriton bundles. Requests the dynamic batcher gathers run as one
batch, so batching and priorities are Triton's own.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.input = config["input"][0]["name"]
        self.output = config["output"][0]["name"]
        parameters = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_threads") or 0)
        providers = ["CPUExecutionProvider"]
        if args.get("model_instance_kind") == "GPU":
            device = int(args.get("model_instance_device_id") or 0)
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device}))
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = ort.InferenceSession(path, options, providers=providers)

    def execute(self, requests):
        arrays = [pb_utils.get_input_tensor_by_name(r, self.input).as_numpy() for r in requests]
        responses = [None] * len(requests)
        # The batcher gathers requests of one shape; group anyway, so any mix runs.
        groups = {}
        for i, array in enumerate(arrays):
            groups.setdefault(array.shape[1:], []).append(i)
        for members in groups.values():
            try:
                batch = np.concatenate([arrays[i] for i in members])
                output = self.session.run([self.output], {self.input: batch})[0]
            except Exception as e:  # the callers get the error, the model stays up
                for i in members:
                    responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(e)))
                continue
            at = 0
            for i in members:
                n = arrays[i].shape[0]
                tensor = pb_utils.Tensor(self.output, output[at : at + n])
                responses[i] = pb_utils.InferenceResponse(output_tensors=[tensor])
                at += n
        return responses
