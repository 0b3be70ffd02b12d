"""The passes a multi-pass detector can run, and the quality presets made of them.

A pass (:class:`FramePass` over the whole frame, :class:`TilePass` over a
grid of tiles) is one network run at one scale, kept to the face sizes it
finds well; a :class:`QualityPreset` is a set of passes with per-size score
rules, and says on which calls each pass runs (``every``, ``offsets``,
cycled tiles). :mod:`livefilter.detect.multipass` runs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from livefilter.detect.tiles import tile_grid
from livefilter.errors import ConfigError

__all__ = [
    "MAX_NETWORK_PIXELS",
    "PRESETS",
    "VIDEO_NETWORK_PIXELS",
    "VIDEO_TILE_OVERLAP",
    "FramePass",
    "Pass",
    "QualityPreset",
    "TilePass",
    "calls_to_revisit",
    "cycle_length",
    "reduced_passes",
    "runs_to_cover",
]

# Clockwise turns a pass may run at, and OpenCV's code for each.
_ROTATIONS = {0: None, 90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180,
              270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def is_tilt(rotate: int) -> bool:
    """Whether a clockwise turn lies between the quarter turns (a tilted
    pass, :mod:`livefilter.detect.tilt`): the one place that says so."""
    return rotate not in _ROTATIONS


@dataclass(frozen=True, kw_only=True)
class _PassSpec:
    """What every pass has: its scale, and the boxes it is trusted with.

    Attributes:
        scale: network pixels per frame pixel (``2.0`` upscales).
        max_width: cap on the network width in pixels (``0``: no cap), so a
            live preset costs the same on a 4K frame as on a 720p one.
        flip: run on the horizontally mirrored image (boxes are mapped back).
        rotate: run on the image turned this many degrees clockwise (boxes
            are mapped back), for faces lying sideways or upside down, which
            CenterFace, trained on upright faces, misses: a quarter turn (0,
            90, 180, 270) on any pass, or a tilt between them (a whole
            number of degrees, e.g. 45) on a :class:`FramePass`, run on a
            canvas that holds the whole turned frame
            (:mod:`livefilter.detect.tilt`). ``min_face`` and ``max_face``
            then apply to the face's height as the network saw it (across
            the frame for 90 and 270).
        min_face, max_face: keep only boxes whose height in frame pixels is
            in ``[min_face, max_face)``; a pass is kept to the sizes it finds
            well, the others come from the other passes.
        min_score: a score every box of this pass needs on top of the
            preset's thresholds (``0``: none); a low-resolution pass that is
            there for large faces, which score high, gets no say on
            doubtful ones.
        every, offsets: run on the ``detect()`` calls whose index modulo
            ``every`` is one of ``offsets`` (``1, (0,)``: on every call). A
            video preset spreads its costly passes over successive frames
            this way; the tracker and the look-ahead carry faces over the
            frames between.
        network: ``centerface``, or ``yunet`` (cheaper, better on small
            faces; its scores run higher, so a YuNet pass sets its own
            ``min_score``).
    """

    scale: float = 1.0
    max_width: int = 0
    flip: bool = False
    rotate: int = 0
    min_face: float = 0.0
    max_face: float = math.inf
    min_score: float = 0.0
    every: int = 1
    offsets: tuple[int, ...] = (0,)
    network: str = "centerface"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.network not in ("centerface", "yunet"):
            raise ConfigError(
                f"{owner}.network: expected centerface or yunet, got {self.network!r}"
            )
        if not 1 <= self.every <= 16:
            raise ConfigError(f"{owner}.every: expected 1..16, got {self.every!r}")
        if (not self.offsets or len(set(self.offsets)) != len(self.offsets)
                or not all(0 <= o < self.every for o in self.offsets)):
            raise ConfigError(
                f"{owner}.offsets: expected distinct values in 0..{self.every - 1}, "
                f"got {self.offsets!r}"
            )
        if not (isinstance(self.rotate, int) and 0 <= self.rotate < 360):
            raise ConfigError(f"{owner}.rotate: expected whole degrees 0..359, got {self.rotate!r}")
        if not 0.1 <= self.scale <= 4.0:
            raise ConfigError(f"{owner}.scale: expected 0.1..4.0, got {self.scale!r}")
        if not 0.0 <= self.min_score < 1.0:
            raise ConfigError(
                f"{owner}.min_score: expected 0.0 <= score < 1.0, got {self.min_score!r}"
            )
        if self.max_width != 0 and not 64 <= self.max_width <= 7680:
            raise ConfigError(
                f"{owner}.max_width: expected 0 (no cap) or 64..7680, got {self.max_width!r}"
            )
        if not 0.0 <= self.min_face < self.max_face:
            raise ConfigError(
                f"{owner}.min_face/max_face: expected 0 <= min_face < max_face, "
                f"got {self.min_face!r} and {self.max_face!r}"
            )

    @property
    def tilt(self) -> bool:
        """Whether the turn lies between the quarter turns."""
        return is_tilt(self.rotate)

    def runs_on(self, run_index: int) -> bool:
        """Whether this pass runs on ``detect()`` call ``run_index``."""
        return run_index % self.every in self.offsets

    def times_run_before(self, run_index: int) -> int:
        """How many times this pass ran on the calls before ``run_index``."""
        full, rest = divmod(run_index, self.every)
        return full * len(self.offsets) + sum(o < rest for o in self.offsets)

    @property
    def turns(self) -> int:
        """Times this pass must run to have seen the whole frame."""
        return 1

    def network_width(self, image_width: int) -> int:
        """Network input width for an image (frame or tile) ``image_width`` pixels wide."""
        width = image_width * self.scale
        if self.max_width:
            width = min(width, self.max_width)
        return max(32, round(width))


@dataclass(frozen=True, kw_only=True)
class FramePass(_PassSpec):
    """One network run over the whole frame (attributes: see ``_PassSpec``)."""


@dataclass(frozen=True, kw_only=True)
class TilePass(_PassSpec):
    """The frame cut into ``cols x rows`` overlapping tiles, each run at ``scale``.

    Attributes (besides those of every pass, see ``_PassSpec``):
        cols, rows: tile grid.
        overlap: pixels neighbouring tiles share, as a share of the frame's
            shorter side. A face up to that tall lies whole in some tile.
        cycle: run one tile each time the pass runs, in turn, instead of all.
    """

    cols: int = 2
    rows: int = 2
    overlap: float = 0.1
    cycle: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tilt:
            # A tilted canvas has no tile grid of the frame's own.
            raise ConfigError(f"TilePass.rotate: expected 0, 90, 180 or 270, got {self.rotate!r}")
        for name in ("cols", "rows"):
            value = getattr(self, name)
            if not 1 <= value <= 8:
                raise ConfigError(f"TilePass.{name}: expected 1..8, got {value!r}")
        if not 0.0 <= self.overlap <= 0.5:
            raise ConfigError(f"TilePass.overlap: expected 0.0..0.5, got {self.overlap!r}")

    @property
    def turns(self) -> int:
        """Times this pass must run to have seen the whole frame: once per
        tile when cycled."""
        return self.cols * self.rows if self.cycle else 1

    def tiles(self, width: int, height: int) -> np.ndarray:
        """``(cols * rows, 4) int64`` tiles of a ``width x height`` frame."""
        overlap = round(self.overlap * min(width, height))
        return tile_grid(width, height, self.cols, self.rows, overlap)


Pass = FramePass | TilePass


def _check_threshold(owner: str, name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"preset {owner}: {name}: expected a score in (0, 1), got {value!r}")


@dataclass(frozen=True, kw_only=True)
class QualityPreset:
    """Which passes run and how their boxes are kept.

    The score a box needs depends on its size, because both the chance of a
    miss and the cost of a false box do:

    * ``threshold`` for most boxes;
    * ``small_threshold`` for boxes the network saw less than
      ``small_network_px`` tall: the network is least reliable there, and a
      pass at a higher scale sees the same face larger;
    * ``large_threshold`` for boxes at least ``large_face_px`` tall in the
      frame: a false one hides a large area, and faces that size are rarely
      missed.

    In a video the tracker and the look-ahead carry a face across a frame
    where it was missed, so a doubtful box costs more (clutter found at 0.1
    is held and hidden on frame after frame) and buys less:
    ``video_min_scores`` raises the score boxes of a video frame need, by
    their height. Measured on the shared clips with ``thorough`` (file path):
    leaked face-frames 0.41 % -> 0.59 %, over-blur 7.9 % -> 4.6 %; on single
    photos the same rule would cost 0.6 points of recall, so photos keep the
    low thresholds.

    Attributes:
        name: preset name (``fast``, ``balanced``, ``thorough``).
        passes: the passes, run in order.
        video_passes: the passes run on the frames of a video instead
            (empty: ``passes``). A video preset runs each costly pass on
            every few frames only (``every``/``offsets``), so that one call
            costs a fraction of a photo's; between the frames a pass sees,
            the tracker and the look-ahead carry the faces it found.
        threshold, small_network_px, small_threshold, large_face_px,
            large_threshold: see above.
        mask_scale: the hidden region's size relative to the face box that
            these thresholds were chosen with; used when the user gives none.
        nms_iou: IoU above which boxes from all passes are merged.
        video_min_scores: ``(height, score)`` pairs in increasing height: a
            box of a video frame at least ``height`` frame pixels tall needs
            at least ``score`` (on top of the thresholds above).
    """

    name: str
    passes: tuple[Pass, ...]
    video_passes: tuple[Pass, ...] = ()
    threshold: float
    small_network_px: float = 0.0
    small_threshold: float = 0.5
    large_face_px: float = math.inf
    large_threshold: float = 0.5
    mask_scale: float = 1.6
    nms_iou: float = 0.3
    video_min_scores: tuple[tuple[float, float], ...] = (
        (24.0, 0.15), (48.0, 0.2), (96.0, 0.3), (128.0, 0.4),
    )

    def __post_init__(self) -> None:
        heights = [h for h, _ in self.video_min_scores]
        if heights != sorted(heights) or any(
                not 0.0 <= score < 1.0 for _, score in self.video_min_scores):
            raise ConfigError(
                f"preset {self.name}: video_min_scores: expected (height, score) pairs by "
                f"increasing height with scores in [0, 1), got {self.video_min_scores!r}"
            )
        if not self.passes:
            raise ConfigError(f"preset {self.name}: passes: expected at least one pass, got none")
        for passes in (self.passes, self.video_passes):
            # A call that ran no pass would pass for a fresh look at the frame.
            idle = [run for run in range(cycle_length(passes)) if passes
                    and not any(p.runs_on(run) for p in passes)]
            if idle:
                raise ConfigError(
                    f"preset {self.name}: passes: call {idle[0]} of the cycle runs no pass"
                )
        for name in ("threshold", "small_threshold", "large_threshold"):
            _check_threshold(self.name, name, getattr(self, name))
        if not 0.0 <= self.small_network_px <= 256.0:
            raise ConfigError(
                f"preset {self.name}: small_network_px: expected 0..256, "
                f"got {self.small_network_px!r}"
            )
        if not self.large_face_px > self.small_network_px:
            raise ConfigError(
                f"preset {self.name}: large_face_px: expected more than small_network_px "
                f"({self.small_network_px}), got {self.large_face_px!r}"
            )
        if not 1.0 <= self.mask_scale <= 4.0:
            raise ConfigError(
                f"preset {self.name}: mask_scale: expected 1.0..4.0, got {self.mask_scale!r}"
            )
        if not 0.0 < self.nms_iou <= 1.0:
            raise ConfigError(
                f"preset {self.name}: nms_iou: expected a value in (0, 1], got {self.nms_iou!r}"
            )

    @property
    def lowest_threshold(self) -> float:
        return min(self.threshold, self.small_threshold, self.large_threshold)

    def threshold_for(self, face_heights: np.ndarray, network_heights: np.ndarray) -> np.ndarray:
        """``(N,) float32`` score each box needs.

        Args:
            face_heights: ``(N,)`` box heights in frame pixels.
            network_heights: ``(N,)`` the same boxes' heights as the network
                saw them (frame pixels times the pass's scale).
        """
        face_heights = np.asarray(face_heights, np.float32).reshape(-1)
        network_heights = np.asarray(network_heights, np.float32).reshape(-1)
        need = np.full(face_heights.shape, self.threshold, np.float32)
        need[network_heights < self.small_network_px] = self.small_threshold
        need[face_heights >= self.large_face_px] = self.large_threshold
        return need

    def video_threshold_for(self, face_heights: np.ndarray) -> np.ndarray:
        """``(N,) float32`` score a box of a video frame needs by its height
        (``0`` where ``video_min_scores`` asks nothing)."""
        face_heights = np.asarray(face_heights, np.float32).reshape(-1)
        need = np.zeros(face_heights.shape, np.float32)
        for height, score in self.video_min_scores:
            need[face_heights >= height] = score
        return need

    def with_threshold(self, threshold: float) -> QualityPreset:
        """This preset with one threshold for every face size (photo or video)."""
        return replace(
            self, threshold=threshold, small_threshold=threshold, large_threshold=threshold,
            video_min_scores=(),
        )

    def passes_for(self, *, video: bool) -> tuple[Pass, ...]:
        """The passes run on a photo or, with ``video``, on a video frame."""
        return self.video_passes if video and self.video_passes else self.passes

    @property
    def cycle_length(self) -> int:
        """Calls after which the passes (of a photo) run as from the first call again."""
        return cycle_length(self.passes)

    @property
    def runs_to_cover(self) -> int:
        """Consecutive calls, from the first, in which every pass (of a photo)
        has run and every cycled tile has been seen."""
        return runs_to_cover(self.passes)


def runs_to_cover(passes: tuple[Pass, ...]) -> int:
    """Consecutive calls, from the first, in which each of ``passes`` has run
    and has seen each of its tiles."""
    for calls in range(1, cycle_length(passes) + 1):
        if all(p.times_run_before(calls) >= p.turns for p in passes):
            return calls
    return cycle_length(passes)


def calls_to_revisit(passes: tuple[Pass, ...]) -> int:
    """Consecutive calls that see the whole frame with every pass, starting
    anywhere in the cycle: the worst case over every start (``runs_to_cover``
    counts from the first call only). A face any pass can find is found
    within this many calls wherever the cycle stands, so the live planner
    treats a frame as looked at whole once this many consecutive calls are in.
    """
    cycle = cycle_length(passes)
    worst = 1
    for start in range(cycle):
        calls = 1
        while not all(p.times_run_before(start + calls) - p.times_run_before(start) >= p.turns
                      for p in passes):
            calls += 1
        worst = max(worst, calls)
    return worst


def cycle_length(passes: tuple[Pass, ...]) -> int:
    """Calls after which ``passes`` run as from the first call again (1 when
    every pass runs whole on every call)."""
    # Each pass is back at the same call of its period and the same tile.
    return math.lcm(*(p.every * p.turns // math.gcd(len(p.offsets), p.turns) for p in passes))


# The most pixels one network run is given (2048 x 2048): a run needs about
# 150-250 bytes of memory per input pixel, so this bounds one run near 1 GB at
# worst. Runs over more (the full-resolution passes of `thorough` on a photo
# over about 4 megapixels, any pass of an 8K frame) are cut into overlapping
# tiles at the same scale. Below it nothing changes: the shared photos and
# clips (up to 1080p) never reach it.
MAX_NETWORK_PIXELS = 2048 * 2048
# Overlap of those tiles, in network pixels: a face up to this tall, as the
# pass sees it, lies whole in some tile; larger ones are what the coarser
# passes (0.5x, 0.15x) see whole.
BUDGET_TILE_OVERLAP = 320
# A video frame's runs get a smaller budget: onnxruntime keeps the largest
# run's activations for the next frame, and that run (thorough's 1.5x pass,
# 1920 x 1088 at 720p, 2560 x 1440 at 1080p) was most of `file`'s memory.
# Cut to tiles of at most 0.8 megapixels (the 1.5x pass in 2 x 2 at 720p and
# 3 x 2 at 1080p, the 0.75x passes in 2 at 1080p), each starting on the
# network's cell grid where the scale has one (not 0.625x), `file`'s
# peak memory on 10 s of the crowd clips went
# 676-679 -> 597-599 MB at 720p and 989-1,014 -> 770-776 MB at 1080p against
# 1.2 MP, in the same time, with the same leaks (README "Memory"); 0.7 MP
# took only 15 MB more off at 1080p, for more runs. The overlap is smaller
# than a photo's: a face over 160 network pixels tall (107 px of a 720p
# frame at 1.5x) is seen whole by the 0.5x pass of the same call.
VIDEO_NETWORK_PIXELS = 800_000
VIDEO_TILE_OVERLAP = 160

# Very large faces cut by the frame's edge (a head filling a corner, seen from
# above: the 60-frame leak of clip03) are found only when the network sees
# them a few dozen pixels tall: a 0.15x pass (about 6 ms, nearly all fixed
# cost of a network run), trusted only when fairly sure.
_EDGE_CUT_GIANTS = FramePass(scale=0.15, min_face=160, min_score=0.25)

_UPSCALED = FramePass(scale=1.5, max_width=2560)
# YuNet's scores run higher than CenterFace's, so its passes keep boxes from
# 0.5 (the score of the "YuNet inside a preset" rows measured by
# benchmarks/yunet.py, README "YuNet"); one place for it.
_YUNET = FramePass(network="yunet", min_score=0.5)
_THREE_QUARTERS = FramePass(scale=0.75, min_face=32)
_FIVE_EIGHTHS = FramePass(scale=0.625, min_face=32)
_HALF = FramePass(scale=0.5, min_face=48)
# Faces lying sideways or upside down (people lying on the ground, a camera
# held sideways): CenterFace, trained on upright faces, finds almost none
# of them; the frame turned a quarter, a half and three quarters round
# brings each back upright for one full-resolution pass.
_TURNED = tuple(FramePass(scale=1.0, rotate=angle) for angle in (90, 180, 270))
# Faces tilted half-way between upright and sideways (a head on a shoulder,
# a camera held askew): the frame turned 45 degrees each way onto a canvas
# that holds all of it. Their boxes must reach TILT_MIN_SCORE (see the
# preset's comment for what it was measured on).
TILT_MIN_SCORE = 0.3
_TILTED = tuple(FramePass(scale=1.0, rotate=angle, min_score=TILT_MIN_SCORE)
                for angle in (45, 315))

# Score a box needs by size (see QualityPreset), shared by the multi-scale
# presets: 0.1, but 0.2 for boxes the network saw under 16 px or that are
# 128 px or taller.
_SIZE_RULES: dict[str, float] = {
    "threshold": 0.1, "small_network_px": 16, "small_threshold": 0.2,
    "large_face_px": 128, "large_threshold": 0.2, "mask_scale": 1.6,
}

# thorough's passes on video, upright ones only (see thorough below): the
# passes take turns over 8 frames.
_VIDEO_UPRIGHT = (
    replace(_UPSCALED, every=8),
    replace(_HALF, every=4),
    replace(_EDGE_CUT_GIANTS, every=2, offsets=(1,)),
    replace(_THREE_QUARTERS, every=8, offsets=(2,)),
    replace(_FIVE_EIGHTHS, every=8, offsets=(6,)),
)

PRESETS: dict[str, QualityPreset] = {
    "fast": QualityPreset(
        name="fast",
        passes=(
            # Three runs in four: the whole frame through YuNet at 0.75x (at
            # most 960 px wide, about 22 ms), which finds most faces of every
            # size in one run, plus one quarter of the frame upscaled, the
            # next each time: the whole frame at more than native resolution
            # every 4 of these runs. YuNet took the place of a CenterFace
            # pass at 512 px, which saw large faces only: one run covered
            # 0.576 -> 0.874 of the faces of wider_dev and 0.610 -> 0.856 of
            # wider_crowds, and run --realtime (0.5 s delay) leaked 2.37% ->
            # 0.74% of face-frames on the shared clips and 1.16% -> 1.15% on
            # the crowd clips, for 1.2-2 points more over-blur (leaks.py on an
            # idle machine, 2026-11-29).
            replace(_YUNET, scale=0.75, max_width=960, every=4, offsets=(0, 1, 2)),
            TilePass(scale=1.25, max_width=704, cols=2, rows=2, overlap=0.1, cycle=True,
                     every=4, offsets=(0, 1, 2)),
            # The fourth run: the whole frame at 800 px wide, where CenterFace
            # finds half-hidden faces it scores under 0.2 at 512 px (with the
            # giant pass about 39 ms at 720p, as much as one of the other
            # runs). Measured on the shared clips (leaks.py): leaked
            # face-frames with a 0.3 s look-ahead 3.50 % -> 1.55 %, without
            # 3.56 % -> 2.71 %. At 768 px instead (36 ms) a face of clip02
            # was found far less often: 1.95 % and 3.11 %.
            replace(_FIVE_EIGHTHS, max_width=800, every=4, offsets=(3,)),
            # The giant pass on every run (about 6 ms), not every 4th: a
            # giant head cut by the frame's edge in clip03's whip-pan was
            # exposed 17 frames with it every 4th run, 2 with it on every run
            # (run --realtime, single runs, 2026-11-29).
            _EDGE_CUT_GIANTS,
        ),
        threshold=0.1,
        large_face_px=128,
        large_threshold=0.2,
        mask_scale=1.6,
    ),
    "balanced": QualityPreset(
        name="balanced",
        passes=(
            FramePass(scale=0.75, max_width=960),
            FramePass(scale=0.5, max_width=640, min_face=48),
            TilePass(scale=1.5, cols=2, rows=2, overlap=0.1, cycle=True, max_face=48),
            _EDGE_CUT_GIANTS,
        ),
        # On video: thorough's schedule without the turned passes (a fifth of
        # thorough's time on file, benchmarks/profile_file.py), for footage
        # where nobody lies sideways. With all the passes above on every
        # frame it was the slowest preset on file (6.7 fps against
        # thorough's 11.3).
        video_passes=_VIDEO_UPRIGHT,
        **_SIZE_RULES,
    ),
    "thorough": QualityPreset(
        name="thorough",
        passes=(
            # Every face size seen twice, at two scales and both ways round:
            # the frame upscaled 1.5x (small faces get enough network pixels;
            # capped at 2560 px wide, about 1 GB of onnxruntime arena) and
            # the mirrored frame at full resolution.
            _UPSCALED,
            FramePass(scale=1.0, flip=True),
            # Large faces are found most reliably when the network sees them
            # smaller: three cheap downscaled passes.
            _THREE_QUARTERS,
            _FIVE_EIGHTHS,
            _HALF,
            _EDGE_CUT_GIANTS,
            *_TURNED,
            *_TILTED,
        ),
        # On video the passes take turns over 8 frames, about 43 ms of
        # network time a frame at 720p instead of 377 ms; the look-ahead of
        # the file path spans the 8 frames, so each frame still gets every
        # pass's faces, tracked from both sides. Measured on the shared
        # clips (simulated file path over the same detections): leaked
        # face-frames 0.66 % with every pass on every 2nd frame, 0.84 % spread
        # like this, 0.82 % (and one face exposed in half its frames) with
        # every pass on every 6th frame. The mirrored pass is left out: on the
        # clips it found nothing the tracker did not already hold (0.85 % with
        # it on every 8th frame, for 7 ms a frame more).
        video_passes=(
            *_VIDEO_UPRIGHT,
            # The turned passes on the frames that run only the giant pass,
            # at 0.75x (a turned pass costs about as much as the 0.75x one).
            *(replace(spec, scale=0.75, every=8, offsets=(offset,))
              for spec, offset in zip(_TURNED, (3, 7, 5), strict=True)),
        ),
        **_SIZE_RULES,
    ),
}




def reduced_passes(*, yunet: bool) -> tuple[Pass, ...]:
    """The passes a live detector steps down to (see
    ``MultiPassDetector.reduce``): each call sees the whole frame.

    With a YuNet detector at hand (``fast`` has one), YuNet at native size
    (at most 1280 px wide: about 34 ms, what CenterFace costs at 640 px) and
    the giant pass. CenterFace at 640 px, the step-down before, sees a 20 px
    face of a 720p crowd 10 px tall: under a competing x264 encode three
    faces of clips_crowds clip02 leaked for the 115 frames it lasted, and
    with this pass one of them for half as many. Without YuNet, CenterFace
    at 640 px (about 25 ms at 640x360).
    """
    if yunet:
        return (replace(_YUNET, max_width=1280),
                _EDGE_CUT_GIANTS)
    return (FramePass(scale=0.5, max_width=640),)
