"""``livefilter batch``: folders of photos and videos, resumable."""

from __future__ import annotations

import argparse
import copy
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from livefilter.audio import FILE_AUDIO_MODES
from livefilter.cli.options import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_hiding_options,
    add_hold_option,
    detector_config,
    finite_float,
    positive_int,
    redaction_config,
    tracker_config,
)
from livefilter.errors import ConfigError, OutputError


def batch_settings(args: argparse.Namespace, jobs: int) -> Any:
    """Photo and video settings from one set of options: photos are detected
    as ``image`` does, videos as ``file`` does."""
    from livefilter.apps.batch_worker import BatchSettings

    photo_args = copy.copy(args)
    photo_args.video_frames = False
    video_args = copy.copy(args)
    video_args.video_frames = True
    photo_detector, video_detector = detector_config(photo_args), detector_config(video_args)
    if jobs > 1 and args.threads == 0:
        # One inference thread per job: N jobs on N cores, no oversubscription.
        photo_detector = replace(photo_detector, threads=1)
        video_detector = replace(video_detector, threads=1)
    return BatchSettings(
        photo_detector=photo_detector, video_detector=video_detector,
        photo_redaction=redaction_config(photo_args), video_redaction=redaction_config(video_args),
        tracker=tracker_config(args, live=False), crf=args.crf, preset=args.preset,
        detect_every=args.detect_every, hide=getattr(args, "hide", "faces"),
        audio=getattr(args, "audio", None), allow_damaged=getattr(args, "allow_damaged", False),
    )


def add_ray_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray", default=None, metavar="ADDRESS",
        help="run the files (and segments) as tasks on an existing Ray cluster: auto, "
        "HOST:PORT or ray://HOST:PORT; inputs and outputs must be on a path every node "
        "shares (needs the extra: pip install 'livefilter[ray]')")


def ray_runner(address: str) -> tuple[Any, int]:
    """A task runner on the Ray cluster at ``address``, and its CPU count."""
    from livefilter.apps.ray_runner import connect, run_tasks_ray

    ray = connect(address)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def runner(tasks: Any, settings: Any, jobs: int, handle: Any) -> None:
        run_tasks_ray(ray, tasks, settings, handle)

    return runner, cpus


def check_model(args: argparse.Namespace) -> None:
    """Before starting workers: a missing model (CenterFace, or the person
    model of ``--hide people``) is one line, not one per worker. Ray
    workers fetch the models themselves."""
    if args.ray is not None:
        return
    from livefilter.detect import build_target_detector

    build_target_detector(detector_config(args), getattr(args, "hide", "faces"))


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from livefilter.apps.batch import BatchCallbacks, default_jobs, run_batch
    from livefilter.apps.batch_inputs import plan_inputs
    from livefilter.apps.offline import FileJobConfig

    out_dir = Path(args.output)
    # The file options are checked once, up front, not once per video.
    FileJobConfig(input=Path("in.mp4"), output=Path("out.mp4"), crf=args.crf,
                  preset=args.preset, detect_every=args.detect_every)
    if not args.min_segment > 0:
        raise ConfigError(f"min-segment: expected a number of seconds above 0, "
                          f"got {args.min_segment}")
    items, notes = plan_inputs(args.inputs, out_dir)
    runner = None
    if args.ray is not None:
        runner, cpus = ray_runner(args.ray)
        jobs = args.jobs or cpus
        if not args.quiet:
            print(f"livefilter: Ray cluster at {args.ray}: {cpus} CPUs", file=sys.stderr)
    elif args.jobs is None:
        jobs, how = default_jobs()
        if not args.quiet:
            print(f"livefilter: {jobs} job(s) at once ({how})", file=sys.stderr)
    else:
        jobs = args.jobs
    check_model(args)
    # Ray tasks take one CPU each: one inference thread, as pool jobs.
    settings = batch_settings(args, max(jobs, 2) if runner is not None else jobs)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create ({exc.strerror or exc})") from exc
    for note in notes:
        print(f"livefilter: {note}", file=sys.stderr)

    quiet = args.quiet
    files = tqdm(desc="batch", unit="file", total=len(items), disable=quiet, file=sys.stderr,
                 dynamic_ncols=True, mininterval=0.5, position=0)
    frames = tqdm(desc="current", unit="frame", total=0, disable=quiet, file=sys.stderr,
                  dynamic_ncols=True, mininterval=0.5, position=1, leave=False)
    in_flight: dict[str, list[int]] = {}

    def show() -> None:
        frames.total = sum(total for _, total in in_flight.values()) or None
        frames.n = sum(done for done, _ in in_flight.values())
        names = ", ".join(Path(name).name for name in in_flight)
        frames.set_description_str(names[:40] or "current", refresh=False)
        frames.refresh()

    def start(item: Any) -> None:
        in_flight[item.output] = [0, 1]
        show()

    def total(item: Any, count: int) -> None:
        if item.output in in_flight:
            in_flight[item.output][1] = max(1, count)
            show()

    def advance(item: Any, count: int) -> None:
        if item.output in in_flight:
            in_flight[item.output][0] += count
            show()

    def finish(item: Any, entry: Any) -> None:
        in_flight.pop(item.output, None)
        show()
        files.update(1)
        if entry.status == "failed":
            tqdm.write(f"livefilter: error: {item.output}: {entry.error}", file=sys.stderr)

    callbacks = BatchCallbacks(start=start, total=total, advance=advance, finish=finish)
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        extra = {} if runner is None else {"runner": runner}
        report = run_batch(items, out_dir, settings, jobs=jobs, callbacks=callbacks,
                           min_segment=args.min_segment, **extra)
    except KeyboardInterrupt:
        frames.close()
        files.close()
        print("livefilter: interrupted; run the same command again to resume "
              "(finished files are kept)", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
        frames.close()
        files.close()
        if runner is not None:
            import ray

            ray.shutdown()
    for item, entry, status in report.rows:
        if status == "skipped" and not quiet:
            print(f"livefilter: skipped {item.source}: {entry.error}", file=sys.stderr)
    failed = report.count("failed")
    if not quiet or failed:
        print(
            f"{out_dir}: {report.count('done')} done, {report.count('unchanged')} unchanged "
            f"(done before), {failed} failed, {report.count('skipped')} skipped in "
            f"{report.seconds} s; summary in {out_dir / 'livefilter-summary.csv'}",
            file=sys.stderr,
        )
    return EXIT_ERROR if failed else EXIT_OK


def add_batch_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "batch", help="anonymize folders of photos and videos (resumable)",
        description="Anonymize files, folders (recursively) and globs of photos and videos "
        "into OUT_DIR, which mirrors the inputs by name (IN/ becomes OUT_DIR/IN/). A manifest "
        "in OUT_DIR records each file; running the same command again skips what is done and "
        "unchanged and redoes the rest. A summary (JSON and CSV) is written in OUT_DIR.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="files, folders or globs")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR",
                   help="output directory (created if missing)")
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="files processed at once, each in its own process with one inference "
                   "thread (default: one per core, fewer if memory is short: 1.5 GiB a job; "
                   "with --ray: the cluster's CPUs)")
    p.add_argument("--crf", type=int, default=20,
                   help="x264 quality of videos, 0 (lossless) .. 51 (worst) (default: %(default)s)")
    p.add_argument("--preset", default="veryfast",
                   help="x264 speed preset of videos (default: %(default)s)")
    p.add_argument("--detect-every", type=positive_int, default=1, metavar="N",
                   help="videos: run the detector on every N-th frame and on each new scene "
                   "(default: %(default)s)")
    p.add_argument("--min-segment", type=finite_float, default=120.0, metavar="SECONDS",
                   help="with more than one job, a video at least twice this long is cut at "
                   "key frames into segments (at least this long, at most one per job) "
                   "processed at once and joined (default: %(default)s)")
    add_ray_option(p)
    add_hold_option(p)
    p.add_argument("--audio", choices=FILE_AUDIO_MODES, default=None,
                   help="sound of the videos, as for `file` (default: keep)")
    p.add_argument("--allow-damaged", action="store_true",
                   help="keep what can be read of damaged videos, as for `file`")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_hiding_options(p, "thorough", video=True)
    p.set_defaults(handler=cmd_batch)
    return p
