"""Read TensorFlow 1 checkpoints (tensor bundles) without TensorFlow.

A checkpoint `<prefix>.index` is a LevelDB-format table mapping each variable name to a serialized
BundleEntryProto (dtype, shape, shard, offset, size); `<prefix>.data-00000-of-00001` holds the raw
little-endian tensor bytes. That is all musicnn's checkpoints need, so this reader covers exactly that:
uncompressed blocks, one shard, numeric dtypes. Formats:
https://github.com/google/leveldb/blob/main/doc/table_format.md and
tensorflow/core/protobuf/tensor_bundle.proto.
"""

from __future__ import annotations

import struct

import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER_SIZE = 5  # compression type byte + crc32
# tensorflow/core/framework/types.proto DataType -> numpy
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 9: np.int64, 10: np.bool_, 19: np.float16}


class CheckpointFormatError(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _block(table: bytes, offset: int, size: int) -> bytes:
    compression = table[offset + size]
    if compression != 0:
        raise CheckpointFormatError(f"compressed table blocks (type {compression}) are not supported")
    return table[offset : offset + size]


def _block_entries(block: bytes):
    """Yield (key, value) from one table block; keys are prefix-compressed against the previous key."""
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 * (num_restarts + 1)
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_len]
        pos += value_len


def _table_entries(table: bytes):
    footer = table[-_FOOTER_SIZE:]
    (magic,) = struct.unpack_from("<Q", footer, _FOOTER_SIZE - 8)
    if magic != _TABLE_MAGIC:
        raise CheckpointFormatError("not a TensorFlow checkpoint index (bad table magic)")
    _, pos = _varint(footer, 0)  # metaindex offset
    _, pos = _varint(footer, pos)  # metaindex size
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    for _, handle in _block_entries(_block(table, index_offset, index_size)):
        offset, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        yield from _block_entries(_block(table, offset, size))


def _fields(message: bytes):
    """Yield (field number, value) of a protobuf message; length-delimited values as bytes."""
    pos = 0
    while pos < len(message):
        tag, pos = _varint(message, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(message, pos)
        elif wire == 2:
            length, pos = _varint(message, pos)
            value, pos = message[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = message[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = message[pos : pos + 8], pos + 8
        else:
            raise CheckpointFormatError(f"unsupported protobuf wire type {wire}")
        yield number, value


def _shape(shape_proto: bytes) -> tuple[int, ...]:
    dims = []
    for number, dim in _fields(shape_proto):
        if number == 2:  # TensorShapeProto.dim
            dims.append(next((v for n, v in _fields(dim) if n == 1), 0))
    return tuple(dims)


def read_checkpoint(index: bytes, data: bytes) -> dict[str, np.ndarray]:
    """All tensors of a single-shard checkpoint, from the bytes of its .index and .data files."""
    tensors = {}
    for key, value in _table_entries(index):
        if not key:  # the bundle header
            continue
        entry = {"dtype": 1, "shape": b"", "shard": 0, "offset": 0, "size": 0}
        for number, field in _fields(value):
            name = {1: "dtype", 2: "shape", 3: "shard", 4: "offset", 5: "size"}.get(number)
            if name:
                entry[name] = field
        if entry["shard"] != 0:
            raise CheckpointFormatError("multi-shard checkpoints are not supported")
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise CheckpointFormatError(f"{key.decode()}: unsupported dtype {entry['dtype']}")
        raw = data[entry["offset"] : entry["offset"] + entry["size"]]
        if len(raw) != entry["size"]:
            raise CheckpointFormatError(f"{key.decode()}: data file is truncated")
        array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
        tensors[key.decode()] = array.reshape(_shape(entry["shape"])).copy()
    return tensors
