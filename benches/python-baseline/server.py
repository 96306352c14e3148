"""A plain Python V2 inference server: the baseline the benchmark harness measures Outpost against.

It is what a user would otherwise write: FastAPI on uvicorn, one ONNX Runtime session, numpy for
the tensors. It speaks the subset of the Open Inference Protocol the harness drives: health,
and infer with JSON tensors or the binary tensor extension, in and out. With --camera-config it
also answers encoded photos on `POST /v2/models/{name}/image` as Outpost's camera endpoint does:
Pillow decodes the JPEG in draft mode (libjpeg-turbo's DCT scaling to the smallest size that still
covers the model's input), resizes it bilinearly, scales it as the model.toml's [preprocess] says,
runs the model and answers the [postprocess] classification's best classes with their labels.

Run: python server.py --model model.onnx [--host 127.0.0.1] [--port 0] [--intra-op-threads 1]
     [--camera-config model.toml --labels labels.txt]
It prints "python-baseline listening on HOST:PORT" once it accepts connections.
"""

import argparse
import io
import json
import socket
import sys
import tomllib

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, Request, Response
from PIL import Image
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

DATATYPES = {
    "FP32": np.float32, "FP64": np.float64, "FP16": np.float16,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "BOOL": np.bool_,
}
V2_NAMES = {np.dtype(v).name: k for k, v in DATATYPES.items()}


class Camera:
    """The image path of one model: [preprocess] (stretch resize only) and a classification
    [postprocess], as Outpost reads them from model.toml."""

    def __init__(self, config_path: str, labels_path: str | None, session: ort.InferenceSession):
        with open(config_path, "rb") as f:
            config = tomllib.load(f)
        pre, post = config["preprocess"], config["postprocess"]
        if pre.get("resize", "stretch") != "stretch" or post.get("kind") != "classification":
            raise SystemExit("the Python camera path does stretch resizing and classification only")
        self.size = (int(pre["width"]), int(pre["height"]))
        self.layout = pre.get("layout", "nchw")
        self.bgr = pre.get("color_order", "rgb") == "bgr"
        scale = float(pre.get("scale", 1.0))
        mean = np.asarray(pre.get("mean", [0.0, 0.0, 0.0]), dtype=np.float32)
        std = np.asarray(pre.get("std", [1.0, 1.0, 1.0]), dtype=np.float32)
        # (pixel * scale - mean) / std as one multiply and one add per element.
        self.multiplier = (scale / std).astype(np.float32)
        self.offset = (-mean / std).astype(np.float32)
        self.top_k = int(post.get("top_k", 5))
        self.input_name = session.get_inputs()[0].name
        self.output_name = post.get("output") or session.get_outputs()[0].name
        self.labels = []
        if labels_path:
            with open(labels_path) as f:
                self.labels = [line.rstrip("\n") for line in f]

    def tensor(self, photo: bytes) -> tuple[np.ndarray, int, int]:
        image = Image.open(io.BytesIO(photo))
        width, height = image.size
        image.draft("RGB", self.size)
        pixels = np.asarray(image.convert("RGB").resize(self.size, Image.BILINEAR), dtype=np.float32)
        if self.bgr:
            pixels = pixels[:, :, ::-1]
        values = pixels * self.multiplier + self.offset
        if self.layout == "nchw":
            values = values.transpose(2, 0, 1)
        return np.ascontiguousarray(values)[np.newaxis], width, height

    def answer(self, scores: np.ndarray) -> list[dict]:
        scores = scores.reshape(-1)
        best = np.argsort(scores)[::-1][: self.top_k]
        return [{"index": int(i), "label": self.labels[i] if i < len(self.labels) else None,
                 "score": float(scores[i])} for i in best]


def build_app(session: ort.InferenceSession, model_name: str, camera: Camera | None) -> FastAPI:
    app = FastAPI()

    @app.post("/v2/models/{name}/image")
    async def image(name: str, request: Request):
        if name != model_name or camera is None:
            return JSONResponse({"error": f"unknown model '{name}'"}, status_code=404)
        photo = await request.body()

        def run():
            tensor, width, height = camera.tensor(photo)
            (scores,) = session.run([camera.output_name], {camera.input_name: tensor})
            return camera.answer(scores), width, height

        try:
            classes, width, height = await run_in_threadpool(run)
        except (OSError, ValueError) as e:
            return JSONResponse({"error": f"cannot read the image: {e}"}, status_code=400)
        return {"model_name": model_name, "model_version": "1",
                "image": {"width": width, "height": height}, "classifications": classes}

    @app.get("/v2/health/live")
    def live():
        return {"live": True}

    @app.get("/v2/health/ready")
    def ready():
        return {"ready": True}

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request):
        if name != model_name:
            return JSONResponse({"error": f"unknown model '{name}'"}, status_code=404)
        body = await request.body()
        header_length = request.headers.get("inference-header-content-length")
        json_part = body[: int(header_length)] if header_length else body
        try:
            header = json.loads(json_part)
        except ValueError as e:
            return JSONResponse({"error": f"malformed JSON: {e}"}, status_code=400)
        feeds, offset = {}, int(header_length or 0)
        for tensor in header.get("inputs", []):
            dtype = DATATYPES.get(tensor["datatype"])
            if dtype is None:
                return JSONResponse({"error": f"unsupported datatype {tensor['datatype']}"}, status_code=400)
            size = (tensor.get("parameters") or {}).get("binary_data_size")
            if size is not None:
                array = np.frombuffer(body, dtype=dtype, count=int(size) // np.dtype(dtype).itemsize, offset=offset)
                offset += int(size)
            else:
                array = np.asarray(tensor["data"], dtype=dtype)
            feeds[tensor["name"]] = array.reshape(tensor["shape"])
        requested = header.get("outputs")
        names = [o["name"] for o in requested] if requested else [o.name for o in session.get_outputs()]
        binary = {o["name"]: (o.get("parameters") or {}).get("binary_data", False) for o in requested or []}
        # ONNX Runtime releases the GIL while it runs: run it on a worker thread.
        results = await run_in_threadpool(session.run, names, feeds)
        outputs, blobs = [], []
        for out_name, value in zip(names, results):
            entry = {"name": out_name, "datatype": V2_NAMES[value.dtype.name], "shape": list(value.shape)}
            if binary.get(out_name):
                raw = np.ascontiguousarray(value).tobytes()
                entry["parameters"] = {"binary_data_size": len(raw)}
                blobs.append(raw)
            else:
                entry["data"] = value.flatten().tolist()
            outputs.append(entry)
        answer = json.dumps({"model_name": model_name, "model_version": "1", "id": header.get("id", ""),
                             "outputs": outputs}).encode()
        if not blobs:
            return Response(answer, media_type="application/json")
        return Response(answer + b"".join(blobs), media_type="application/octet-stream",
                        headers={"Inference-Header-Content-Length": str(len(answer))})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--model-name", default="bench")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--intra-op-threads", type=int, default=1)
    parser.add_argument("--camera-config", help="model.toml with [preprocess] and [postprocess]")
    parser.add_argument("--labels", help="labels file, one per line")
    args = parser.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.intra_op_threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    camera = Camera(args.camera_config, args.labels, session) if args.camera_config else None

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    host, port = sock.getsockname()
    config = uvicorn.Config(build_app(session, args.model_name, camera), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    print(f"python-baseline listening on {host}:{port}", flush=True)
    server.run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
