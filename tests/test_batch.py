"""`livefilter batch`: folders, per-file isolation, resume, interruption, bad input."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import pytest
from synthetic import astronaut_bgr, count_decodable_frames, write_clip

from livefilter.apps.batch import _locked, default_jobs, remove_stale_parts
from livefilter.apps.batch_inputs import plan_inputs
from livefilter.apps.manifest import Entry, Manifest, fingerprint, is_disk_full
from livefilter.errors import ConfigError, InputError, OutputError


def _summary(out: Path) -> dict[str, dict[str, str]]:
    with (out / "livefilter-summary.csv").open(encoding="utf-8") as file:
        return {row["file"]: row for row in csv.DictReader(file)}


def _photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), astronaut_bgr())
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """photos, a clip, a corrupt video, a text file, a nested folder."""
    root = tmp_path_factory.mktemp("archive") / "march"
    _photo(root / "p1.jpg")
    _photo(root / "sub" / "deeper" / "p2.png")
    (root / "sub").mkdir(exist_ok=True)
    write_clip(root / "sub" / "clip.mp4", frames=12, fps=12, size=(256, 192), face_height=60)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    (root / "notes.txt").write_text("not media\n")
    return root


def test_batch_folder_isolates_bad_files_mirrors_tree_and_resumes(archive, tmp_path, cli):
    out = tmp_path / "out"
    result = cli("batch", archive, "-o", out, "--jobs", "2", "-q")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "march/broken.mp4" in errors[0], result.stderr

    rows = _summary(out)
    assert rows["march/p1.jpg"]["status"] == "done"
    assert int(rows["march/p1.jpg"]["faces_hidden"]) >= 1
    assert rows["march/sub/deeper/p2.png"]["status"] == "done"
    assert rows["march/sub/clip.mp4"]["status"] == "done"
    assert int(rows["march/sub/clip.mp4"]["frames"]) == 12
    assert int(rows["march/sub/clip.mp4"]["faces_hidden"]) >= 10
    assert rows["march/broken.mp4"]["status"] == "failed"
    assert rows["march/broken.mp4"]["error"]
    assert rows["march/notes.txt"]["status"] == "skipped"
    assert (out / "march" / "p1.jpg").is_file()
    assert (out / "march" / "sub" / "deeper" / "p2.png").is_file()
    assert count_decodable_frames(out / "march" / "sub" / "clip.mp4") == 12
    assert not (out / "march" / "broken.mp4").exists()
    assert not (out / "march" / "notes.txt").exists()
    summary = json.loads((out / "livefilter-summary.json").read_text())
    assert (summary["done"], summary["failed"], summary["skipped"]) == (3, 1, 1)

    # A re-run skips what is done and unchanged, and redoes the failed file.
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".jpg", ".mp4")}
    _photo(archive / "p1.jpg")  # rewritten: a new mtime, so it counts as changed
    os.utime(archive / "p1.jpg", ns=(1, 1))
    result = cli("batch", archive, "-o", out, "--jobs", "1", "-q")
    assert result.returncode == 1, result.stderr
    rows = _summary(out)
    assert rows["march/sub/clip.mp4"]["status"] == "unchanged"
    assert rows["march/sub/deeper/p2.png"]["status"] == "unchanged"
    assert rows["march/p1.jpg"]["status"] == "done"
    assert rows["march/broken.mp4"]["status"] == "failed"
    assert (out / "march" / "sub" / "clip.mp4").stat().st_mtime_ns == \
        mtimes[out / "march" / "sub" / "clip.mp4"]

    # Other settings: everything is redone.
    result = cli("batch", archive / "sub", "-o", tmp_path / "out2", "--jobs", "1", "-q")
    assert result.returncode == 0, result.stderr
    result = cli("batch", archive / "sub", "-o", tmp_path / "out2", "--jobs", "1", "-q",
                 "--method", "solid")
    assert result.returncode == 0, result.stderr
    assert {row["status"] for row in _summary(tmp_path / "out2").values()} == {"done"}


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_batch_interrupted_resumes_without_redoing_or_partials(tmp_path, how):
    source = tmp_path / "in"
    source.mkdir()
    write_clip(source / "a.mp4", frames=45, fps=15, size=(320, 240))
    for name in ("b.mp4", "c.mp4", "d.mp4"):
        shutil.copy(source / "a.mp4", source / name)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "livefilter", "batch", str(source), "-o", str(out),
               "--jobs", "1", "-q"]
    # PYTHONFAULTHANDLER: should the batch not end, SIGABRT makes each of its
    # processes print where its threads stand (see _communicate_or_explain).
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                               start_new_session=True,
                               env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    manifest = out / "livefilter-manifest.json"
    deadline = time.monotonic() + 240
    done: list[str] = []
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists():
            entries = json.loads(manifest.read_text())["entries"]
            done = [e["output"] for e in entries if e["status"] == "done"]
            if done:
                break
        time.sleep(0.1)
    assert done, "no file finished in time"
    os.kill(process.pid, how)
    stderr = _communicate_or_explain(process, timeout=60)
    assert "Traceback" not in stderr
    if how == signal.SIGTERM:
        assert process.returncode == 130
        assert "resume" in stderr
    # Workers follow the batch process: none goes on writing.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _workers_of(out):
        time.sleep(0.2)
    assert not _workers_of(out)
    finished = {p.relative_to(out).as_posix() for p in out.rglob("*.mp4")}
    assert finished <= set(done) | {f"in/{n}" for n in ("a.mp4", "b.mp4", "c.mp4", "d.mp4")}
    for name in finished:  # what has a final name is complete
        assert count_decodable_frames(out / name) == 45
    if how == signal.SIGTERM:
        assert not list(out.rglob("*.part"))
    assert len(finished) < 4, "the batch finished before it was interrupted"

    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    rows = _summary(out)
    for name in done:
        assert rows[name]["status"] == "unchanged"
    assert {row["status"] for row in rows.values()} <= {"done", "unchanged"}
    assert sum(row["status"] == "done" for row in rows.values()) >= 1
    assert not list(out.rglob("*.part"))
    for name in rows:
        assert count_decodable_frames(out / name) == 45


def _communicate_or_explain(process: subprocess.Popen, timeout: float) -> str:
    """``process``'s stderr once it has ended; should it not end (or not close
    stderr) in ``timeout`` s, fail with what is left of its session: each
    process, what holds the stderr pipe, and the Python stacks SIGABRT prints
    under PYTHONFAULTHANDLER."""
    try:
        return process.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        pass
    session = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,wchan:24,args", "-s",
                              str(process.pid)], capture_output=True, text=True,
                             check=False).stdout
    pipe = os.readlink(f"/proc/self/fd/{process.stderr.fileno()}")
    holders = [pid for pid in _pids_holding(lambda target: target == pipe)
               if pid != os.getpid()]
    for line in session.splitlines()[1:]:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(line.split()[0]), signal.SIGABRT)
    try:
        stderr = process.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stderr = process.communicate()[1]
    pytest.fail(f"the batch had not ended {timeout} s after the signal (exited: "
                f"{process.poll() is not None}); its session:\n{session}\n"
                f"holding its stderr ({pipe}): {holders}\nstderr:\n{stderr[-6000:]}")


def _pids_holding(matches: Callable[[str], bool]) -> list[int]:
    """Processes with an open file whose link target ``matches``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if matches(os.readlink(fd)):
                    pids.append(int(proc.name))
                    break
        except OSError:
            continue
    return pids


def _workers_of(out: Path) -> list[int]:
    """Processes still holding a file open under ``out``."""
    return _pids_holding(lambda target: str(out) in target)


def test_batch_full_disk_stops_with_one_line_and_resumes(tmp_path, cli):
    mount = tmp_path / "small"
    mount.mkdir()
    tag = f"lf{uuid.uuid4().hex[:6]}"
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", tag, str(mount)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        source = tmp_path / "in"
        for i in range(6):
            _photo(source / f"p{i}.png")  # ~ 60 KB each: the disk takes two
        out = mount / "out"
        result = cli("batch", source, "-o", out, "--jobs", "1", "-q")
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert "Traceback" not in result.stderr
        assert len(lines) == 1 and "disk full" in lines[0] and "resume" in lines[0], lines
        done_before = [e["output"] for e in
                       json.loads((out / "livefilter-manifest.json").read_text())["entries"]
                       if e["status"] == "done"]
        assert not list(out.rglob("*.part"))
        subprocess.run(["mount", "-o", "remount,size=8m", str(mount)], check=True)
        result = cli("batch", source, "-o", out, "--jobs", "1", "-q")
        assert result.returncode == 0, result.stderr
        rows = _summary(out)
        assert len(rows) == 6
        for name in done_before:
            assert rows[name]["status"] == "unchanged"
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# ------------------------------------------------------------------ planning, no models


def test_plan_mirrors_roots_by_name_and_classifies(tmp_path):
    _photo(tmp_path / "a" / "x.jpg")
    (tmp_path / "a" / "deep").mkdir()
    (tmp_path / "a" / "deep" / "v.avi").write_bytes(b"x")
    (tmp_path / "a" / "deep" / "v.mp4").write_bytes(b"x")
    (tmp_path / "readme.md").write_text("x")
    _photo(tmp_path / "g1.png")
    _photo(tmp_path / "g2.png")
    items, notes = plan_inputs([str(tmp_path / "a"), str(tmp_path / "readme.md"),
                                str(tmp_path / "g*.png")], tmp_path / "out")
    assert [(i.output, i.kind) for i in items] == [
        ("a/deep/v.avi.mp4", "video"), ("a/deep/v.mp4", "video"), ("a/x.jpg", "photo"),
        ("g1.png", "photo"), ("g2.png", "photo"), ("readme.md", "other"),
    ]
    assert notes == []


def test_plan_leaves_out_the_output_dir_inside_an_input_folder(tmp_path):
    _photo(tmp_path / "a" / "x.jpg")
    _photo(tmp_path / "a" / "anon" / "a" / "x.jpg")  # an earlier run's output
    items, notes = plan_inputs([str(tmp_path / "a")], tmp_path / "a" / "anon")
    assert [i.output for i in items] == ["a/x.jpg"]
    assert len(notes) == 1 and "left out" in notes[0]


def test_plan_refuses_collisions_duplicates_and_inputs_in_the_output(tmp_path):
    _photo(tmp_path / "one" / "photos" / "x.jpg")
    _photo(tmp_path / "two" / "photos" / "x.jpg")
    with pytest.raises(ConfigError, match="both be written"):
        plan_inputs([str(tmp_path / "one" / "photos"), str(tmp_path / "two" / "photos")],
                    tmp_path / "out")
    with pytest.raises(ConfigError, match="given twice"):
        plan_inputs([str(tmp_path / "one"), str(tmp_path / "one" / "photos" / "x.jpg")],
                    tmp_path / "out")
    with pytest.raises(ConfigError, match="given twice"):
        x = str(tmp_path / "one" / "photos" / "x.jpg")
        plan_inputs([x, x], tmp_path / "out")
    with pytest.raises(ConfigError, match="inside the output directory"):
        plan_inputs([str(tmp_path / "one" / "photos")], tmp_path / "one")
    with pytest.raises(InputError, match="no such file"):
        plan_inputs([str(tmp_path / "missing")], tmp_path / "out")
    with pytest.raises(InputError, match="matches no file"):
        plan_inputs([str(tmp_path / "*.nothing")], tmp_path / "out")


def test_cli_refuses_bad_batch_input_in_one_line(tmp_path, cli):
    _photo(tmp_path / "a" / "x.jpg")
    result = cli("batch", tmp_path / "a", tmp_path / "a", "-o", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "given twice" in result.stderr
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ manifest and pool parts


def test_fingerprint_sees_changes_at_either_end(tmp_path):
    path = tmp_path / "f.bin"
    data = bytearray(os.urandom(3 << 20))
    path.write_bytes(data)
    first = fingerprint(path)
    stat = path.stat()
    for offset in (10, len(data) - 10):
        changed = bytearray(data)
        changed[offset] ^= 0xFF
        path.write_bytes(changed)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert fingerprint(path).sha256_ends != first.sha256_ends
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint(path) == first


def test_manifest_completion_needs_same_input_settings_and_output(tmp_path):
    source = tmp_path / "in.bin"
    source.write_bytes(b"abc")
    (tmp_path / "out.jpg").write_bytes(b"12345")
    print_ = fingerprint(source)
    manifest = Manifest(tmp_path)
    manifest.record(Entry(output="out.jpg", input=str(source), kind="photo", status="done",
                          size=print_.size, mtime_ns=print_.mtime_ns,
                          sha256_ends=print_.sha256_ends, settings="s1", output_size=5))
    reloaded = Manifest(tmp_path)
    assert reloaded.is_complete("out.jpg", print_, "s1", tmp_path)
    assert not reloaded.is_complete("out.jpg", print_, "s2", tmp_path)
    (tmp_path / "out.jpg").write_bytes(b"12")  # output cut short since
    assert not reloaded.is_complete("out.jpg", print_, "s1", tmp_path)
    assert not list(tmp_path.glob(".*.part"))
    (tmp_path / "livefilter-manifest.json").write_text("{not json")
    with pytest.raises(OutputError, match="unreadable batch manifest"):
        Manifest(tmp_path)


def test_stale_parts_removed_and_one_batch_per_output_dir(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ".clip.mp4.1234.part").write_bytes(b"x")
    (tmp_path / "a" / "clip.mp4").write_bytes(b"x")
    assert remove_stale_parts(tmp_path) == 1
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["clip.mp4"]
    with _locked(tmp_path), pytest.raises(ConfigError, match="another batch"), \
            _locked(tmp_path):
        pass


def test_default_jobs_bounded_by_cores_and_memory(monkeypatch):
    import livefilter.apps.batch as batch

    monkeypatch.setattr(batch, "_available_memory", lambda: 100 * 2**30)
    jobs, how = default_jobs()
    assert jobs == len(os.sched_getaffinity(0)) and "cores" in how
    monkeypatch.setattr(batch, "_available_memory", lambda: 0.5 * 2**30)
    assert default_jobs()[0] == 1


def test_disk_full_recognised_through_causes():
    import errno

    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise OutputError("x.jpg: cannot write") from exc
    except OutputError as exc:
        assert is_disk_full(exc)
    assert not is_disk_full(OutputError("x.jpg: permission denied"))


def test_batch_cuts_a_long_video_into_segments(tmp_path, cli):
    source = tmp_path / "in"
    source.mkdir()
    write_clip(source / "long.mp4", frames=90, fps=15, size=(256, 192), keyint=15)
    out = tmp_path / "out"
    (out / "in").mkdir(parents=True)
    (out / "in" / ".long.mp4.99999.segments").mkdir()  # an interrupted run's
    result = cli("batch", source, "-o", out, "--jobs", "2", "--min-segment", "2", "-q")
    assert result.returncode == 0, result.stderr
    row = _summary(out)["in/long.mp4"]
    assert row["status"] == "done" and int(row["frames"]) == 90
    with av.open(str(source / "long.mp4")) as a, av.open(str(out / "in" / "long.mp4")) as b:
        assert [f.pts * f.time_base for f in a.decode(video=0)] == \
            [f.pts * f.time_base for f in b.decode(video=0)]
    with av.open(str(out / "in" / "long.mp4")) as container:
        keys = sum(p.is_keyframe for p in container.demux(container.streams.video[0]))
    assert keys >= 2  # two segments, each from its own IDR frame
    assert [p.name for p in (out / "in").iterdir()] == ["long.mp4"]


def test_batch_worker_killed_fails_its_file_only(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    write_clip(source / "a.mp4", frames=60, fps=15, size=(320, 240))
    shutil.copy(source / "a.mp4", source / "b.mp4")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "livefilter", "batch", str(source), "-o", str(out), "--jobs", "1",
         "-q"], stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and time.monotonic() < deadline and process.poll() is None:
        for part in out.rglob(".a.mp4.*.part"):
            try:
                os.kill(int(part.name.split(".")[-2]), signal.SIGKILL)  # the worker
                killed = part
            except ProcessLookupError:
                continue
        time.sleep(0.05)
    assert killed is not None, "never saw the worker's partial file"
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1
    assert "Traceback" not in stderr and "worker process died" in stderr
    rows = _summary(out)
    assert rows["in/a.mp4"]["status"] == "failed"
    assert rows["in/b.mp4"]["status"] == "done"  # a new worker took the rest
    assert not killed.exists() and not (out / "in" / "a.mp4").exists()


def test_batch_missing_model_is_one_line_whatever_the_jobs(tmp_path, cli):
    """Checked once before the workers start (not once per worker), and
    ``auto`` refuses like ``centerface``: no silent fallback to the cascade."""
    _photo(tmp_path / "a" / "x.jpg")
    _photo(tmp_path / "a" / "y.jpg")
    env = {"LIVEFILTER_MODELS": str(tmp_path / "no-models")}
    for n, detector in enumerate(("centerface", "auto")):
        result = cli("batch", tmp_path / "a", "-o", tmp_path / f"out{n}", "--detector",
                     detector, "--jobs", "2", "-q", env=env)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "livefilter models fetch" in result.stderr
        assert not list((tmp_path / f"out{n}").rglob("*.jpg"))
    # The cascade, asked for by name, runs without the model.
    result = cli("batch", tmp_path / "a", "-o", tmp_path / "out2", "--detector", "cascade",
                 "--jobs", "2", "-q", env=env)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out2").rglob("*.jpg"))) == 2
