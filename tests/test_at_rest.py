"""No raw frame at rest, no network unless asked (issue 7, item 5).

Each command runs as a user would run it (a subprocess) in a sandbox: a
fresh working directory, and ``TMPDIR``, ``HOME`` and the XDG directories
pointed at empty directories of their own. Afterwards the sandbox must hold
exactly the command's declared outputs: nothing in ``TMPDIR``, ``HOME`` or
the XDG directories, nothing else in the working directory.

Where ``strace`` works, the run is also traced, which sees what a listing
afterwards cannot: a temporary file created and deleted during the run, a
write outside the sandbox, a connection made by C code (ffmpeg). Every file
opened for writing must then be a declared output, its hidden ``.part``
(renamed onto it), or one of a few things that cannot hold a picture: named
semaphores in /dev/shm, /dev/null, Python and numba's compiled-code caches.
No ``connect``, ``sendto``, ``sendmsg`` or ``bind`` on an internet socket
may happen. A URL source, traced the same way, must show its connection
attempt: that is what proves the check can fail.

Python's socket module is also patched (a ``sitecustomize`` on
``PYTHONPATH``) to refuse and log any internet connection or name lookup;
the commands must still succeed and log nothing. And where ``unshare -n``
works (root, or user namespaces), ``file`` runs with no network at all.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest
from synthetic import face_scene, write_clip

from livefilter.models import models_dir

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "livefilter"

# Python-level network guard, loaded by every Python process of a run.
SITECUSTOMIZE = '''\
"""Test hook (tests/test_at_rest.py): refuse and log internet access from Python."""
import os
import socket

_LOG = os.environ["LIVEFILTER_NET_LOG"]
_INTERNET = (socket.AF_INET, socket.AF_INET6)


def _record(what, detail):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {what} {detail!r}\\n")
    raise OSError(f"network blocked by the test: {what}")


def _guard(name):
    original = getattr(socket.socket, name)

    def guarded(self, *args, **kwargs):
        if self.family in _INTERNET:
            _record(name, args[:1])
        return original(self, *args, **kwargs)
    return guarded


for _name in ("connect", "connect_ex", "sendto", "sendmsg"):
    setattr(socket.socket, _name, _guard(_name))


def _lookup(*args, **kwargs):
    _record("getaddrinfo", args[:2])


socket.getaddrinfo = _lookup
'''


def _strace_works() -> bool:
    if shutil.which("strace") is None:
        return False
    probe = subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, "true"],
                           capture_output=True, check=False)
    return probe.returncode == 0


STRACE = _strace_works()
_TRACED = ("open,openat,creat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,"
           "mkdir,mkdirat,connect,sendto,sendmsg,bind")


@dataclass
class Sandbox:
    root: Path
    cwd: Path
    private: dict[str, Path]  # env var -> the empty directory it points at
    net_log: Path
    trace: Path

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               # livefilter must switch onnxruntime's telemetry off by itself
               if key not in ("ORT_DISABLE_TELEMETRY", "PYTHONPATH")}
        env.update({key: str(path) for key, path in self.private.items()})
        env["TEMP"] = env["TMP"] = env["TMPDIR"]
        env["LIVEFILTER_MODELS"] = str(models_dir())  # read-only, outside
        env["PYTHONPATH"] = str(self.root / "hook")
        env["LIVEFILTER_NET_LOG"] = str(self.net_log)
        return env


@pytest.fixture
def sandbox(tmp_path) -> Sandbox:
    private = {key: tmp_path / name for key, name in [
        ("TMPDIR", "tmp"), ("HOME", "home"), ("XDG_RUNTIME_DIR", "runtime"),
        ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"),
    ]}
    for path in private.values():
        path.mkdir(mode=0o700)
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (tmp_path / "cwd").mkdir()
    return Sandbox(tmp_path, tmp_path / "cwd", private, tmp_path / "net.log",
                   tmp_path / "trace.log")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    clip = root / "clip.mp4"
    write_clip(clip, frames=20, fps=10, audio=True)
    photo = root / "photo.jpg"
    cv2.imwrite(str(photo), face_scene(320, 240, 90, (160, 120))[0])
    return {"clip": clip, "photo": photo}


def _run(sandbox: Sandbox, args: list[str], *, traced: bool = STRACE,
         prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "livefilter", *args]
    if traced:
        command = ["strace", "-f", "-qq", "-y", "-s", "256", "-o", str(sandbox.trace),
                   "-e", f"trace={_TRACED}", "-e", "signal=none", *command]
    return subprocess.run([*(prefix or []), *command], cwd=sandbox.cwd, env=sandbox.env(),
                          capture_output=True, text=True, timeout=300, check=False)


def _tree(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


# ----------------------------------------------------------------- the trace
@dataclass(frozen=True)
class Syscall:
    name: str
    args: str
    result: str


def _syscalls(trace: Path) -> list[Syscall]:
    """The traced calls, with the halves strace splits across threads joined."""
    pending: dict[str, str] = {}
    calls = []
    for line in trace.read_text(errors="replace").splitlines():
        pid, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")]
            continue
        resumed = re.match(r"<\.\.\. \w+ resumed>(.*)", rest)
        if resumed:
            rest = pending.pop(pid, "") + resumed.group(1)
        match = re.match(r"(\w+)\((.*)\)\s+=\s+(.*)$", rest)
        if match:
            calls.append(Syscall(*match.groups()))
    return calls


def _resolve(argument: str, cwd: Path) -> Path:
    """A path argument: ``"rel"``, ``"/abs"``, or ``3</dir>, "rel"`` (-y)."""
    dirfd = re.match(r'\s*(?:AT_FDCWD<([^>]*)>|\d+<([^>]*)>)?,?\s*"([^"]*)"', argument)
    if dirfd is None:
        return Path("?")
    base = dirfd.group(1) or dirfd.group(2) or str(cwd)
    return Path(base, dirfd.group(3))


def _written_paths(calls: list[Syscall], cwd: Path) -> list[str]:
    """Every path created or opened for writing (successfully)."""
    written = []
    for call in calls:
        if call.result.startswith("-1"):
            continue
        if call.name in ("open", "openat", "creat"):
            flags = call.args
            if call.name == "creat" or re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TMPFILE", flags):
                opened = re.search(r"<(.*)>", call.result)  # -y: the file's own path
                written.append(opened.group(1) if opened else str(_resolve(call.args, cwd)))
        elif call.name in ("rename", "renameat", "renameat2", "link", "linkat",
                           "symlink", "symlinkat"):
            # The second path argument is the new name.
            parts = re.findall(r'(?:(?:AT_FDCWD|\d+)<[^>]*>,\s*)?"[^"]*"', call.args)
            if len(parts) >= 2:
                written.append(str(_resolve(parts[1], cwd)))
        elif call.name in ("mkdir", "mkdirat"):
            written.append(str(_resolve(call.args, cwd)))
    return written


def _harmless(path: str, sandbox: Sandbox) -> bool:
    """Writes that cannot hold a picture, or the test's own log."""
    numba_cache = os.environ.get("NUMBA_CACHE_DIR")
    return (
        path in ("/dev/null", "/dev/tty", str(sandbox.net_log))
        or re.fullmatch(r"/dev/pts/\d+", path) is not None
        # POSIX named semaphores (multiprocessing locks): a counter, no data
        or re.fullmatch(r"/dev/shm/sem\.[\w.-]+", path) is not None
        # compiled code: Python's bytecode and numba's kernel cache (and its
        # nameless O_TMPFILE probe of that directory)
        or path.endswith(".pyc")
        or (path.startswith(str(PACKAGE)) and "/__pycache__/" in path)
        or (numba_cache is not None and path.startswith(numba_cache))
    )


def _check_trace(sandbox: Sandbox, declared: set[str]) -> None:
    calls = _syscalls(sandbox.trace)
    assert calls, "strace recorded nothing"
    allowed = {str(sandbox.cwd / name) for name in declared}
    part = re.compile(r"\.(.+)\.\d+\.part")
    unexpected = []
    for path in _written_paths(calls, sandbox.cwd):
        name = Path(path)
        hidden = part.fullmatch(name.name)
        if path in allowed or (hidden and str(name.with_name(hidden.group(1))) in allowed):
            continue
        if not _harmless(path, sandbox):
            unexpected.append(path)
    assert unexpected == [], f"written outside the declared outputs: {sorted(set(unexpected))}"
    internet = [f"{c.name}({c.args})" for c in calls
                if c.name in ("connect", "sendto", "sendmsg", "bind") and "AF_INET" in c.args]
    assert internet == [], f"network calls: {internet}"


# ----------------------------------------------------------------- commands
COMMANDS = {
    "file": (["file", "{clip}", "-o", "out.mp4", "-q", "--regions-json", "regions.json",
              "--stats-json", "stats.json"], {"out.mp4", "regions.json", "stats.json"}),
    "image": (["image", "{photo}", "-o", ".", "-q"], {"photo.jpg"}),
    "batch": (["batch", "{photo}", "{clip}", "-o", "out", "-q", "--jobs", "2"],
              {"out", "out/photo.jpg", "out/clip.mp4", "out/livefilter-manifest.json",
               "out/livefilter-summary.json", "out/livefilter-summary.csv"}),
    "detect": (["detect", "{photo}", "--json"], set()),
    "demo": (["demo", "-o", "demo"], {"demo", "demo/astronaut.mp4",
                                      "demo/astronaut_anonymized.mp4", "demo/before_after.png"}),
    "run": (["run", "--source", "{clip}", "--realtime", "--record", "rec.mkv",
             "--duration", "3", "-q"], {"rec.mkv"}),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_nothing_but_the_outputs_at_rest_and_no_network(sandbox, inputs, command):
    template, declared = COMMANDS[command]
    args = [part.format(**{k: str(v) for k, v in inputs.items()}) for part in template]
    result = _run(sandbox, args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for key, directory in sandbox.private.items():
        assert _tree(directory) == set(), f"{key} ({directory}) got {_tree(directory)}"
    assert _tree(sandbox.cwd) == declared
    assert not sandbox.net_log.exists(), sandbox.net_log.read_text()
    if STRACE:
        _check_trace(sandbox, declared)
    else:
        warnings.warn("strace unavailable: transient files and C-level network calls "
                      "were not checked", stacklevel=1)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(not STRACE, reason="needs a working strace")
def test_a_url_source_shows_up_in_the_trace(sandbox):
    # The control: the same check flags a run that does use the network.
    url = f"rtsp://127.0.0.1:{_closed_port()}/stream"
    result = _run(sandbox, ["run", "--source", url, "--null", "--duration", "1", "-q"])
    assert result.returncode != 0
    with pytest.raises(AssertionError, match="network calls"):
        _check_trace(sandbox, set())


def test_the_python_network_guard_is_active(sandbox):
    # The control for the sitecustomize hook: a Python connection from a
    # process started like the commands above is refused and logged.
    code = f"import socket; socket.create_connection(('127.0.0.1', {_closed_port()}), 1)"
    result = subprocess.run([sys.executable, "-c", code], env=sandbox.env(), cwd=sandbox.cwd,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "blocked by the test" in result.stderr
    assert "getaddrinfo" in sandbox.net_log.read_text()


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0:
            return True
    return False


@pytest.mark.skipif(not _unshare_works(), reason="unshare -n is not permitted here")
def test_file_works_with_no_network_at_all(sandbox, inputs):
    prefix = ["unshare", "-n"]
    if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode:
        prefix = ["unshare", "-rn"]
    result = _run(sandbox, ["file", str(inputs["clip"]), "-o", "out.mp4", "-q"],
                  traced=False, prefix=prefix)
    assert result.returncode == 0, result.stderr
    assert _tree(sandbox.cwd) == {"out.mp4"}
    # The control: in that namespace, a URL source cannot even reach loopback.
    result = _run(sandbox, ["run", "--source", "rtsp://127.0.0.1:9/x", "--null", "-q"],
                  traced=False, prefix=prefix)
    assert result.returncode != 0 and "unreachable" in result.stderr.lower()
