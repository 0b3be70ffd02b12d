"""CenterFace: an anchor-free face detector (MIT licence), run by onnxruntime.

The published ONNX graph declares a fixed ``10x3x32x32`` input and lists its
batch-norm initializers as graph inputs. We rewrite both once: an open height
and width (one session runs every size) and constant initializers, which let
onnxruntime fold and fuse the graph; that measured 1.5-2x faster than
``cv2.dnn`` on the same model. When onnxruntime cannot be loaded, ``cv2.dnn``
runs the original graph.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from livefilter.detect.base import (
    DetectorConfig,
    letterboxed_to_frame,
    round_to_multiple,
    top_letterbox,
)
from livefilter.detections import Detections
from livefilter.errors import ConfigError

__all__ = ["CenterFaceDetector", "decode_centerface"]

logger = logging.getLogger(__name__)

_INPUT = "input.1"
_OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks
_STRIDE = 4
# A cv2.dnn net serves one input shape and keeps its activations, about
# 230-280 bytes per input pixel (180 MB for 1024x768, 1.7 GB for 2048x3008).
# Photos of many sizes would pile up nets until memory runs out, so only the
# most recently used shapes are kept: at most _MAX_NETS, and fewer when
# their inputs add up to more than _MAX_NET_PIXELS (a video, or one preset
# on one photo, uses a handful of fixed shapes well inside both limits).
_MAX_NETS = 8
_MAX_NET_PIXELS = 16_000_000


def decode_centerface(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and scores from CenterFace's outputs, in input-image pixels.

    ``heatmap`` is ``(1, 1, h, w)``, ``scale`` and ``offset`` ``(1, 2, h, w)``
    with channel 0 for y and 1 for x; each cell is ``_STRIDE`` input pixels.
    Boxes are returned unclipped ``(N, 4) float32`` x1 y1 x2 y2.
    """
    ys, xs = np.nonzero(heatmap[0, 0] > threshold)
    if len(ys) == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    box_h = np.exp(scale[0, 0, ys, xs]) * _STRIDE
    box_w = np.exp(scale[0, 1, ys, xs]) * _STRIDE
    centre_y = (ys + offset[0, 0, ys, xs] + 0.5) * _STRIDE
    centre_x = (xs + offset[0, 1, ys, xs] + 0.5) * _STRIDE
    xyxy = np.stack(
        [centre_x - box_w / 2, centre_y - box_h / 2, centre_x + box_w / 2, centre_y + box_h / 2],
        axis=1,
    ).astype(np.float32)
    return xyxy, heatmap[0, 0, ys, xs].astype(np.float32)


_shared_arena_lock = threading.Lock()
_shared_arena_registered = False


def _register_shared_arena(ort) -> None:
    """Register, once per process, the CPU arena that video sessions share."""
    global _shared_arena_registered
    with _shared_arena_lock:
        if _shared_arena_registered:
            return
        memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                   ort.OrtMemType.DEFAULT)
        # Grow by what is asked (1), not to the next power of two (0): the
        # arena then stays near the largest run's need.
        ort.create_and_register_allocator(memory, ort.OrtArenaCfg(0, 1, -1, -1))
        _shared_arena_registered = True


class _OrtRunner:
    """One onnxruntime session that runs every input shape, built on first use.

    The graph's height and width are left open. A session per shape (as
    before 2026-12-07) cost 15-20 MB each, kept for the run: a `thorough`
    video keeps six or more shapes, about 100 MB, for no speed we could
    measure (one open session ran the six shapes of a 720p frame in 385 ms
    against 394 ms, interleaved; see README "Memory").
    """

    # The graph's input and the outputs a run fetches (a subclass for another
    # graph sets its own).
    input_name = _INPUT
    output_names: tuple[str, ...] = _OUTPUTS[:3]

    def __init__(self, model_path: Path, threads: int, *, arena: bool = True) -> None:
        import onnx
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)
        self._ort = onnxruntime
        self._threads = threads
        self._arena = arena
        model = onnx.load(str(model_path))
        initializer_names = {i.name for i in model.graph.initializer}
        used = {name for node in model.graph.node for name in node.input}
        graph_inputs = [i for i in model.graph.input if i.name not in initializer_names]
        del model.graph.input[:]
        model.graph.input.extend(graph_inputs)
        kept = [i for i in model.graph.initializer if i.name in used]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
        self._open_shape(model)
        self._model_bytes = model.SerializeToString()
        self._session: object | None = None
        self._lock = threading.Lock()

    def _open_shape(self, model) -> None:
        """Leave ``model``'s input height and width (and its outputs') open, with
        a batch of one (a subclass for another graph overrides this)."""
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[0].dim_value = 1
        dims[2].dim_param, dims[3].dim_param = "height", "width"
        for output, channels in zip(model.graph.output, (1, 2, 2, 10), strict=True):
            out_dims = output.type.tensor_type.shape.dim
            out_dims[0].dim_value = 1
            out_dims[1].dim_value = channels
            out_dims[2].dim_param = f"height_{_STRIDE}"
            out_dims[3].dim_param = f"width_{_STRIDE}"

    def _get_session(self):
        with self._lock:
            if self._session is None:
                options = self._ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                # An arena keeps the peak activations of a run (150-250 bytes
                # per input pixel) for the next: right for video, where the
                # same shapes come back every frame and re-mapping the memory
                # each run costs time (a thorough `file` run took 33% longer
                # without). For photos it only piles up (a 12 MP photo peaked
                # at 3 GB with one arena per pass and tile size): no arena.
                options.enable_cpu_mem_arena = self._arena
                if self._arena:
                    # Video: the session draws on one arena shared by the
                    # process (YuNet's too), so memory holds the largest
                    # run's activations, not the sum over the passes;
                    # without a memory pattern (one block per shape, kept)
                    # runs of other shapes reuse its chunks. Peak RSS of a
                    # thorough `file` run 1.72 -> 0.95 GB at 720p, 2.76 ->
                    # 1.45 GB at 1080p, same speed (2026-11-29).
                    _register_shared_arena(self._ort)
                    options.add_session_config_entry("session.use_env_allocators", "1")
                    options.enable_mem_pattern = False
                # Spinning worker threads burn the cores the decoder, the
                # compositor and the encoder need; block instead.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.add_session_config_entry("session.inter_op.allow_spinning", "0")
                self._session = self._ort.InferenceSession(
                    self._model_bytes, options, providers=["CPUExecutionProvider"]
                )
            return self._session

    def __call__(self, blob: np.ndarray) -> list[np.ndarray]:
        session = self._get_session()
        return session.run(list(self.output_names), {self.input_name: blob})  # type: ignore[attr-defined]


class _OpenCVRunner:
    """One ``cv2.dnn`` net per input shape, like the onnxruntime sessions.

    A net that has run once keeps the layer shapes of its first input: fed
    another size, it returns garbage (on a 23-face photo, 1,555 boxes at
    768 px after a first run at 1536 px, one box after a run at 160 px), which
    is what made ``--backend opencv`` hide whole photos with the presets. A
    net per shape answers as onnxruntime does.
    """

    def __init__(self, model_path: Path, threads: int) -> None:
        self._path = str(model_path)
        self._nets: OrderedDict[tuple[int, int], cv2.dnn.Net] = OrderedDict()
        self._nets[(0, 0)] = cv2.dnn.readNetFromONNX(self._path)  # fails early if unreadable
        self._lock = threading.Lock()

    def __call__(self, blob: np.ndarray) -> list[np.ndarray]:
        key = (blob.shape[2], blob.shape[3])
        # A cv2.dnn.Net is not safe to share between threads.
        with self._lock:
            net = self._nets.pop(key, None)
            if net is None:
                # The net read at start serves the first shape asked for.
                net = self._nets.pop((0, 0), None)
            if net is None:
                net = cv2.dnn.readNetFromONNX(self._path)
            self._nets[key] = net
            while len(self._nets) > 1 and (
                len(self._nets) > _MAX_NETS
                or sum(h * w for h, w in self._nets) > _MAX_NET_PIXELS
            ):
                self._nets.popitem(last=False)
            net.setInput(blob)
            return list(net.forward(list(_OUTPUTS[:3])))


class CenterFaceDetector:
    """CenterFace on a copy of the frame scaled to ``config.input_width``.

    The scaled image keeps the frame's aspect ratio; its height is padded up
    to a multiple of 32 (the network's stride) rather than stretched, so boxes
    map back exactly.
    """

    name = "centerface"

    def __init__(self, model_path: Path, config: DetectorConfig) -> None:
        self.config = config
        backend = config.backend
        self.backend = backend
        if backend in ("auto", "onnxruntime"):
            try:
                self._run = _OrtRunner(model_path, config.threads, arena=config.video)
                self.backend = "onnxruntime"
            except ImportError as exc:
                if backend == "onnxruntime":
                    raise ConfigError(
                        f"backend onnxruntime: cannot import it ({exc}); "
                        "install onnxruntime and onnx or use --backend opencv"
                    ) from exc
                logger.warning("onnxruntime unavailable (%s); using cv2.dnn", exc)
                backend = "opencv"
        if backend == "opencv":
            self._run = _OpenCVRunner(model_path, config.threads)
            self.backend = "opencv"

    def input_size(self, width: int, height: int, input_width: int = 0) -> tuple[int, int, float]:
        """``(net_width, net_height, scale)`` for a frame of ``width x height``."""
        target = input_width or self.config.input_width or width
        net_width = round_to_multiple(target, 32)
        scale = net_width / width
        net_height = int(np.ceil(max(1.0, height * scale) / 32.0)) * 32
        return net_width, net_height, scale

    def detect(
        self, frame_bgr: np.ndarray, input_width: int = 0, *, threshold: float | None = None
    ) -> Detections:
        """Faces in ``frame_bgr`` (``(H, W, 3) uint8`` BGR), boxes in its pixels.

        ``input_width`` overrides the configured network width (``0``: use the
        config); a width above the frame's upscales it. ``threshold``
        overrides the configured minimum score (multi-pass detectors fetch
        low-score candidates and apply per-size thresholds themselves).
        """
        height, width = frame_bgr.shape[:2]
        net_width, net_height, scale = self.input_size(width, height, input_width)
        canvas, scaled_height = top_letterbox(frame_bgr, net_width, net_height, scale)
        # The network was trained on RGB in 0..255, no mean subtracted.
        blob = cv2.dnn.blobFromImage(canvas, 1.0, swapRB=True)
        heatmap, box_scale, offset = self._run(blob)
        xyxy, scores = decode_centerface(
            heatmap,
            box_scale,
            offset,
            self.config.single_pass_threshold if threshold is None else threshold,
        )
        return letterboxed_to_frame(xyxy, scores, scale=scale, scaled_height=scaled_height,
                                    width=width, height=height, nms_iou=self.config.nms_iou)
