"""``livefilter file``: one video file."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from livefilter.audio import FILE_AUDIO_MODES
from livefilter.cli.batch import add_ray_option, check_model, interrupt
from livefilter.cli.options import (
    EXIT_OK,
    add_hiding_options,
    add_hold_option,
    add_manual_region_options,
    build_detector,
    finite_float,
    manual_regions,
    positive_int,
    redaction_config,
    tracker_config,
    write_json,
)
from livefilter.errors import ConfigError, InputError
from livefilter.paths import check_paths, output_path


def cmd_file(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from livefilter.apps.offline import FileJobConfig, anonymize_video
    from livefilter.io.media import output_format_for

    job = FileJobConfig(
        input=Path(args.input), output=Path(args.output), crf=args.crf, preset=args.preset,
        regions_json=args.regions_json, stats_json=args.stats_json,
        detect_every=args.detect_every, audio=args.audio, allow_damaged=args.allow_damaged,
    )
    redaction = redaction_config(args)
    manual = manual_regions(args)
    if not job.input.exists():
        raise InputError(f"{job.input}: no such file")
    if not args.min_segment > 0:
        raise ConfigError(f"min-segment: expected a number of seconds above 0, "
                          f"got {args.min_segment}")
    # Every output is checked before the detector loads and the first frame
    # is decoded: a bad output path costs one line at once, not a whole run.
    output_format_for(job.output)
    check_paths({"input": job.input},
                {"-o": job.output, "--regions-json": job.regions_json,
                 "--stats-json": job.stats_json})
    # The bar appears once the input has opened and the outputs are created:
    # a refused file gets its one error line, not a progress line before it.
    bars: list[tqdm] = []

    def set_total(frames: int) -> None:
        bars.append(tqdm(
            desc=job.input.name, unit="frame", total=frames or None, disable=args.quiet,
            file=sys.stderr, dynamic_ncols=True, mininterval=0.5, leave=True,
        ))

    def on_frame(count: int) -> None:
        bars[0].update(count)

    try:
        stats = None
        if args.jobs > 1 or args.ray is not None:
            stats = _in_segments(args, job, manual, on_frame, set_total)
        if stats is None:
            stats = anonymize_video(job, build_detector(args), redaction, on_frame=on_frame,
                                    total_frames=set_total,
                                    tracker=tracker_config(args, live=False), manual=manual)
    except BaseException:
        # The error line stands alone: the bar is wiped, not left above it.
        for bar in bars:
            bar.leave = False
            bar.close()
        raise
    for bar in bars:
        bar.close()
    if job.stats_json is not None:
        write_json(job.stats_json, stats)
    if not args.quiet:
        print(
            f"{job.output}: {stats['frames']} frames in {stats['seconds']} s "
            f"({stats['fps']} fps)",
            file=sys.stderr,
        )
    return EXIT_OK



def _in_segments(args: argparse.Namespace, job: Any, manual: Any, on_frame: Any,
                 set_total: Any) -> dict[str, object] | None:
    """``--jobs N``: the file in up to N segments at once; ``None`` when it
    is too short to split, or has hand-made regions (those are resolved
    over the whole file, so such a file runs in one piece)."""
    from livefilter.apps.segments import anonymize_in_segments
    from livefilter.cli.batch import batch_settings, ray_runner

    if manual:
        return None

    check_model(args)
    extra: dict[str, Any] = {}
    jobs = args.jobs
    if args.ray is not None:
        extra["runner"], cpus = ray_runner(args.ray)
        jobs = args.jobs if args.jobs > 1 else cpus
    # SIGTERM as Ctrl-C: the workers are stopped and the segments removed.
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return anonymize_in_segments(
            job.input, job.output, batch_settings(args, max(jobs, 2)), jobs=jobs,
            min_seconds=args.min_segment, on_frame=on_frame, total_frames=set_total,
            regions_json=job.regions_json, **extra,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
        if extra:
            import ray

            ray.shutdown()


def add_file_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("file", help="anonymize a video file",
                       description="Anonymize a video file: every frame, audio copied (or muted "
                       "or re-encoded), metadata stripped; the output appears only when complete.")
    p.add_argument("input", help="video to read")
    p.add_argument("-o", "--output", required=True, help="video to write (.mp4, .mov, .mkv)")
    p.add_argument("--crf", type=int, default=20,
                   help="x264 quality, 0 (lossless) .. 51 (worst) (default: %(default)s)")
    p.add_argument("--preset", default="veryfast",
                   help="x264 speed preset (default: %(default)s)")
    p.add_argument("--regions-json", type=output_path, default=None, metavar="PATH",
                   help="write what was hidden in each frame as JSON")
    p.add_argument("--stats-json", type=output_path, default=None, metavar="PATH",
                   help="write run statistics (frames, seconds, fps) as JSON")
    p.add_argument("--allow-damaged", action="store_true",
                   help="anonymize what can be read of a damaged or truncated input (fewer "
                   "frames or audio packets than it declares), with a warning; without it "
                   "such an input fails and no output is kept")
    p.add_argument("--detect-every", type=positive_int, default=1, metavar="N",
                   help="run the detector on every N-th frame and on each new scene (a preset "
                   "spreads its passes over successive runs); the frames between are tracked "
                   "from both sides (default: %(default)s)")
    p.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                   help="cut a long file at key frames into up to N segments processed at "
                   "once, each in its own process with one inference thread, then joined "
                   "without re-encoding (default: %(default)s, one piece)")
    p.add_argument("--min-segment", type=finite_float, default=30.0, metavar="SECONDS",
                   help="with --jobs: shortest segment; a shorter file stays one piece "
                   "(default: %(default)s)")
    add_ray_option(p)
    add_hold_option(p)
    p.add_argument("--audio", choices=FILE_AUDIO_MODES, default=None,
                   help="keep: copy the audio unchanged (its bitstream keeps the source "
                   "encoder's version string); mute: silence of the same duration; reencode: "
                   "decode and re-encode with our encoder; disguise: change voices (McAdams; a "
                   "disguise, not anonymization: mute is the safe choice) (default: keep)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_hiding_options(p, "thorough", video=True)
    add_manual_region_options(p, video=True)
    p.set_defaults(handler=cmd_file)
    return p
