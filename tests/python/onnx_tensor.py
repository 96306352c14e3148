"""Reads a serialized onnx.TensorProto (the fixtures' reference tensors) into numpy without the
onnx package: only the fields those files use."""

import numpy as np

_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64}


def _varint(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def read(path):
    buf = open(path, "rb").read()
    pos, dims, dtype, raw, floats = 0, [], None, None, []
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            if field == 1:
                dims.append(value)
            elif field == 2:
                dtype = value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            chunk = buf[pos:pos + length]
            pos += length
            if field == 1:  # packed dims
                p = 0
                while p < len(chunk):
                    v, p = _varint(chunk, p)
                    dims.append(v)
            elif field == 4:
                floats.extend(np.frombuffer(chunk, dtype="<f4"))
            elif field == 9:
                raw = chunk
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            raise ValueError(f"unsupported wire type {wire}")
    np_dtype = _DTYPES[dtype]
    data = np.frombuffer(raw, dtype=np.dtype(np_dtype).newbyteorder("<")) if raw is not None else np.array(floats, dtype=np_dtype)
    return data.reshape(dims).astype(np_dtype)
