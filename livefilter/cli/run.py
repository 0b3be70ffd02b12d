"""``livefilter run``: a live source to several outputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from livefilter.audio import RUN_AUDIO_MODES
from livefilter.cli.options import (
    EXIT_ERROR,
    EXIT_OK,
    add_hiding_options,
    add_hold_option,
    add_manual_region_options,
    build_detector,
    detect_every,
    finite_float,
    manual_regions,
    redaction_config,
    size,
    tracker_config,
    write_json,
)
from livefilter.errors import ConfigError
from livefilter.paths import check_paths, output_path

if TYPE_CHECKING:
    from livefilter.audio.live import LiveAudio, LiveAudioConfig
    from livefilter.io.capture import Source


def _url_or_path(text: str) -> str:
    """``--source``/``--stream``: refuse, at parse time, URLs of a scheme we
    cannot serve (``srt://``) instead of retrying them for the whole run."""
    from livefilter.io.urls import unsupported_url_reason

    reason = unsupported_url_reason(text)
    if reason is not None:
        raise argparse.ArgumentTypeError(reason)
    return text


def _bitrate(text: str) -> str:
    from livefilter.io.sinks import parse_bitrate

    try:
        return str(parse_bitrate(text))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("stream-bitrate: ")) from None


def cmd_run(args: argparse.Namespace) -> int:
    import signal

    from livefilter.apps.live import LiveConfig, LivePipeline
    from livefilter.audio.live import LiveAudioConfig
    from livefilter.io.capture import SourceConfig, open_source
    from livefilter.io.sinks import NullSink, RecordSink, StreamSink, VirtualCameraSink

    if not (args.preview or args.vcam or args.record or args.stream or args.null):
        raise ConfigError(
            "no output: give --preview, --vcam, --record PATH, --stream URL or --null"
        )
    source_config = SourceConfig(source=str(args.source), realtime=args.realtime,
                                 size=args.size, fps=args.fps)
    # Before any source opens: no output may be the source or another
    # output, and each must be writable (one line now, not after the run).
    stream_file = args.stream if args.stream and "://" not in args.stream else None
    check_paths(
        {"--source": Path(source_config.source) if source_config.kind == "file" else None},
        {"--record": args.record and Path(args.record), "--stream": stream_file and
         Path(stream_file), "--regions-json": args.regions_json,
         "--stats-json": args.stats_json},
        in_place=frozenset({"--record", "--stream"}),
    )
    live = LiveConfig(
        detect_every=args.detect_every, duration=args.duration,
        # Not given: 0.5 s, or the hold if shorter (a longer one is refused).
        max_stale=max(0.05, min(0.5, args.hold)) if args.max_stale is None else args.max_stale,
        delay=args.delay,
        cut_threshold=args.cut_threshold,
        stats_interval=0 if args.quiet else args.stats_interval,
        regions_json=args.regions_json, stats_json=args.stats_json, banner=args.banner,
    )
    redaction = redaction_config(args)
    manual = manual_regions(args)
    audio_config = LiveAudioConfig(mode=args.audio or "mute", device=args.audio_source)
    if (args.audio_source is not None and source_config.kind == "file"
            and not source_config.realtime):
        raise ConfigError("audio-source: a microphone needs a live video source (a camera, a "
                          "stream, or a file with --realtime)")
    sinks = []
    if args.null:
        sinks.append(NullSink())
    if args.record:
        sinks.append(RecordSink(Path(args.record), size=args.record_size, fps=args.record_fps,
                                crf=args.record_crf))
    if args.stream:
        sinks.append(StreamSink(args.stream, size=args.stream_size,
                                bitrate=args.stream_bitrate))
    if args.vcam:
        device = None if args.vcam == "auto" else args.vcam
        sinks.append(VirtualCameraSink(device, backend=args.vcam_backend))
    detector = build_detector(args)
    tracker = tracker_config(args, live=True, detector=detector)
    source = open_source(source_config)
    preview = None
    try:
        audio = _live_audio(args, audio_config, source)
        if args.preview:
            from livefilter.io.preview import PreviewWindow

            preview = PreviewWindow()
        # Cameras and streams that drop out are reopened; a file is not.
        reopen = ((lambda: open_source(source_config))
                  if source_config.kind in ("camera", "url") else None)
        pipeline = LivePipeline(source, detector, redaction=redaction, config=live,
                                tracker=tracker, sinks=sinks, preview=preview, reopen=reopen,
                                manual=manual, audio=audio)
        # A requested stop is a clean stop: SIGHUP too (a closed terminal or a
        # dropped SSH session must not leave the recording unfinalized).
        handlers = {
            signal.SIGINT: lambda *_: pipeline.request_stop("SIGINT"),
            signal.SIGTERM: lambda *_: pipeline.request_stop("SIGTERM"),
            signal.SIGHUP: lambda *_: pipeline.request_stop("SIGHUP"),
            signal.SIGUSR1: lambda *_: pipeline.toggle_panic(),
        }
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            stats = pipeline.run()
            # Stopping already: a further signal while the stats are written
            # or the interpreter exits must not interrupt it (a second Ctrl-C
            # used to print "Exception ignored ... KeyboardInterrupt").
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            _write_run_results(args, stats)
        finally:
            if not getattr(args, "process_exits", False):
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
    finally:
        source.close()
    return EXIT_ERROR if stats.get("sink_errors") else EXIT_OK


def _write_run_results(args: argparse.Namespace, stats: dict) -> None:
    if args.stats_json is not None:
        write_json(args.stats_json, stats)
    if not args.quiet:
        latency = stats["latency_ms"]
        print(
            f"livefilter: {stats['stop_reason']}: {stats['frames_out']} frames out, "
            f"{stats['fps_out']} fps, {stats['dropped']} dropped, detector "
            f"{stats['detector_hz']} Hz, latency p50/p95/p99 {latency['p50']}/{latency['p95']}/"
            f"{latency['p99']} ms, {stats['curtain_frames']} curtain frames",
            file=sys.stderr,
        )
    for name, error in stats.get("sink_errors", {}).items():
        print(f"livefilter: error: {name}: {error}", file=sys.stderr)



def _live_audio(args: argparse.Namespace, config: LiveAudioConfig,
                source: Source) -> LiveAudio | None:
    """The sound path for this run, or ``None`` (no sound, or nowhere to send it)."""
    from livefilter.audio.live import LiveAudio

    asked = args.audio is not None or args.audio_source is not None
    if not (args.record or args.stream):
        if asked:
            print("livefilter: warning: sound goes only to --record and --stream (the virtual "
                  "camera and the preview are video only); --audio ignored", file=sys.stderr)
        return None
    if config.device is None and not getattr(source, "has_audio", False):
        if asked:
            print(f"livefilter: warning: {source.name} has no sound: --audio {config.mode} has "
                  "nothing to do (a microphone: --audio-source alsa:default)", file=sys.stderr)
        return None
    audio = LiveAudio(config)
    if config.mode == "mute" and not args.quiet:
        print("livefilter: sound muted in the recording and stream (silence of the same "
              "duration); --audio keep sends it", file=sys.stderr)
    return audio


def add_run_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "run", help="anonymize a live source: camera, stream or file",
        description="Read a camera, stream or file and send the anonymized frames to any mix "
        "of outputs at once. Until the first detection, and whenever the detector is late or "
        "failing, every frame is hidden whole. Keys in the preview: q quit, p/space panic "
        "(hide everything), d show regions. SIGUSR1 toggles panic.")
    group = p.add_argument_group("source")
    group.add_argument("--source", default="0", type=_url_or_path,
                       help="camera index or /dev/videoN, a video file, or a URL (rtsp://, "
                       "http://, udp://, tcp://, rtmp://) (default: %(default)s)")
    group.add_argument("--realtime", action="store_true",
                       help="pace a file at its own frame rate, like a camera")
    group.add_argument("--size", type=size, default=None, metavar="WxH",
                       help="camera mode to request, e.g. 1280x720")
    group.add_argument("--fps", type=finite_float, default=None,
                       help="camera frame rate to request")
    group = p.add_argument_group("outputs (any combination)")
    group.add_argument("--preview", action="store_true", help="show a window")
    group.add_argument("--vcam", nargs="?", const="auto", default=None, metavar="DEVICE",
                       help="send to a virtual camera (v4l2loopback); DEVICE e.g. /dev/video10, "
                       "default: the first one")
    group.add_argument("--vcam-backend", default=None, help=argparse.SUPPRESS)
    group.add_argument("--record", type=output_path, default=None, metavar="PATH",
                       help="record H.264 to PATH (.mkv or fragmented .mp4: playable even "
                       "if livefilter is killed)")
    group.add_argument("--record-size", type=size, default=None, metavar="WxH",
                       help="recording size (smaller keeps up on slow machines)")
    group.add_argument("--record-fps", type=finite_float, default=None,
                       help="recording frame rate (lower keeps up on slow machines)")
    group.add_argument("--record-crf", type=int, default=23, help="recording quality")
    group.add_argument("--stream", default=None, metavar="URL", type=_url_or_path,
                       help="stream to rtmp:// (FLV), udp:// or tcp:// (MPEG-TS)")
    group.add_argument("--stream-size", type=size, default=None, metavar="WxH")
    group.add_argument("--stream-bitrate", type=_bitrate, default="2500k", metavar="BITS",
                       help="video bitrate of --stream, 32k..100M (default: %(default)s)")
    group.add_argument("--null", action="store_true", help="discard frames (benchmarks)")
    group = p.add_argument_group("sound (recording and stream only)")
    group.add_argument("--audio", choices=RUN_AUDIO_MODES, default=None,
                       help="keep: the sound, in sync and delayed with the video; mute: silence "
                       "of the same duration; disguise: voices changed (McAdams; a disguise, "
                       "not anonymization) (default: mute: a live output cannot be reviewed "
                       "before bystanders' voices are out)")
    group.add_argument("--audio-source", default=None, metavar="FORMAT:DEVICE",
                       help="take the sound from an input device instead of the video source, "
                       "e.g. alsa:default, alsa:hw:1, pulse:default (where FFmpeg has it)")
    group = p.add_argument_group("pipeline")
    group.add_argument("--detect-every", type=detect_every, default=0, metavar="N|auto",
                       help="run the detector every N frames, or auto: as often as it can "
                       "(default: auto)")
    group.add_argument("--max-stale", type=finite_float, default=None, metavar="SECONDS",
                       help="hide the whole frame when the newest detection is older than "
                       "this; at most --hold (default: 0.5, or --hold if shorter)")
    # No look-ahead by default, for every output: on the shared clips a 0.5 s
    # delay for recordings and streams leaked more face-frames than none in
    # 10 of 12 measured pairs (three clip sets, idle and under load), since
    # frames it would carry boxes back to are hidden whole without it.
    group.add_argument("--delay", type=finite_float, default=0.0, metavar="SECONDS",
                       help="look-ahead: hold output back this long, carrying boxes found "
                       "later back to the frames before (fewer frames hidden whole after a "
                       "cut; measured to expose more faces) (default: %(default)s)")
    group.add_argument("--banner", action="store_true",
                       help="draw the protection state (protected, degraded, curtain, "
                       "signal-lost), small, on the output")
    group.add_argument("--cut-threshold", type=finite_float, default=40.0, metavar="LEVEL",
                       help="picture change (1-50) treated as a cut or whip-pan: hidden whole "
                       "until the next detection (default: %(default)s)")
    add_hold_option(group)
    group.add_argument("--duration", type=finite_float, default=None, metavar="SECONDS",
                       help="stop after this long")
    group.add_argument("--stats-interval", type=finite_float, default=5.0, metavar="SECONDS",
                       help="print stats this often (default: %(default)s)")
    group.add_argument("--stats-json", type=output_path, default=None, metavar="PATH",
                       help="write final stats as JSON")
    group.add_argument("--regions-json", type=output_path, default=None, metavar="PATH",
                       help="write what was hidden in each frame as JSON")
    group.add_argument("-q", "--quiet", action="store_true", help="no stats lines")
    add_hiding_options(p, "fast", video=True)
    add_manual_region_options(p, video=True)
    # One inference thread: the other core decodes, tracks, hides and encodes.
    p.set_defaults(handler=cmd_run, threads=1)
    return p
