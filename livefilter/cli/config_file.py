"""The config file: TOML whose keys are the commands' long option names.

Layout::

    # options for every command that has them
    method = "pixelate"

    [run]             # options for `livefilter run` only
    source = "/dev/video0"
    vcam = true

    [file]
    crf = 22

Keys may be written with ``-`` or ``_``. A key no command knows, a value of
the wrong type or out of range is an error that names the key: a misspelt
option never silently falls back to its default. The command line wins over
the file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import tomllib

from livefilter.errors import ConfigError

__all__ = ["apply_config", "default_config_path", "load_config"]


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/livefilter/config.toml`` (``~/.config`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "livefilter" / "config.toml"


def load_config(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {path}: cannot read ({exc})") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: not valid TOML ({exc})") from exc


def _options_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Long options (without dashes, ``_`` spelling) -> action, for ``parser``."""
    options: dict[str, argparse.Action] = {}
    for action in parser._actions:  # argparse has no public API for this
        if not action.option_strings or action.dest in ("help", "config"):
            continue
        for option in action.option_strings:
            if option.startswith("--"):
                options[option[2:].replace("-", "_")] = action
    return options


def _convert(path: Path, key: str, action: argparse.Action, value: Any) -> Any:
    where = f"config {path}: {key}"
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value if isinstance(action, argparse._StoreTrueAction) else not value
    if isinstance(value, bool) and action.nargs == "?" and action.const is not None:
        # An option with an optional value (`--vcam [DEVICE]`): true means the
        # bare option (its const), false leaves it off.
        return action.const if value else action.default
    if isinstance(value, dict | list) and action.nargs not in ("*", "+"):
        raise ConfigError(f"{where}: expected a single value, got {value!r}")
    if isinstance(value, bool) and action.type is not None and action.type is not str:
        raise ConfigError(f"{where}: expected a value, got {value!r}")
    values = value if isinstance(value, list) else [value]
    converted = []
    for item in values:
        if isinstance(item, dict | list):
            raise ConfigError(f"{where}: expected a plain value, got {item!r}")
        text = str(item).lower() if isinstance(item, bool) else str(item)
        if "\x00" in text:
            # TOML can spell a NUL ("\u0000"); no path or name can hold one.
            raise ConfigError(f"{where}: contains a NUL character")
        try:
            result = action.type(text) if action.type is not None else text
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if action.choices is not None and result not in action.choices:
            allowed = ", ".join(str(c) for c in action.choices)
            raise ConfigError(f"{where}: expected one of {allowed}; got {item!r}")
        converted.append(result)
    return converted if isinstance(value, list) else converted[0]


def apply_config(
    path: Path,
    data: dict[str, Any],
    command: str,
    commands: dict[str, argparse.ArgumentParser],
) -> dict[str, Any]:
    """Defaults for ``command``'s parser from the config ``data``.

    Checks every key against every command, so an unknown key is an error even
    when it is in another command's table.
    """
    every_option: set[str] = set()
    for parser in commands.values():
        every_option.update(_options_of(parser))
    defaults: dict[str, Any] = {}
    own = _options_of(commands[command]) if command in commands else {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if isinstance(value, dict):
            if name not in commands:
                known = ", ".join(sorted(commands))
                raise ConfigError(f"config {path}: unknown section [{key}] (commands: {known})")
            section_options = _options_of(commands[name])
            for sub_key, sub_value in value.items():
                sub_name = sub_key.replace("-", "_")
                if sub_name not in section_options:
                    raise ConfigError(
                        f"config {path}: [{key}] {sub_key}: not an option of `livefilter {key}`"
                    )
                action = section_options[sub_name]
                converted = _convert(path, f"[{key}] {sub_key}", action, sub_value)
                if name == command:
                    defaults[section_options[sub_name].dest] = converted
            continue
        if name not in every_option:
            raise ConfigError(f"config {path}: {key}: not an option of any livefilter command")
        if name in own:
            # A command's own table wins over the top level.
            defaults.setdefault(own[name].dest, _convert(path, key, own[name], value))
    return defaults
