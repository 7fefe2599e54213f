"""Typed ingest and measurement errors.

Every error carries a stable machine-readable ``code`` and a one-line, specific message that
names the file (by its base name only) and what is wrong with it. The CLI prints
``error[<code>]: <message>`` and exits non-zero; the agent and the UI show the message as is.
"""
from __future__ import annotations

import os
import re
import unicodedata

MAX_NAME_CHARS = 100


_NAME_KEEP_PUNCT = set(" ._-+,=@")


def sanitize_name(path: str | os.PathLike | bytes) -> str:
    """Display name for a file: its base name made safe to print and to show in a UI.

    Only the last path component is kept (``/`` and ``\\`` both count as separators), the
    text is NFC-normalised, and every character that is not a letter, a digit or one of
    ``space . _ - + , = @`` (control characters, newlines, shell metacharacters such as
    ``$ ` ; | & < > ( ) * ? ! ' "``, emoji...) becomes ``_``. Leading dots, dashes and
    spaces are removed (no hidden or option-like names) and the result is cut to
    100 characters, keeping a short extension. Never empty (``"audio"``). The name is
    only ever displayed; nothing is written under it.
    """
    if isinstance(path, bytes):
        text = os.fsdecode(path)
    else:
        text = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
    text = text.rstrip("/\\")
    base = re.split(r"[\\/]", text)[-1] if text else ""
    base = unicodedata.normalize("NFC", base)
    out = []
    for ch in base:
        out.append(ch if (ch.isalnum() or ch in _NAME_KEEP_PUNCT) else "_")
    name = re.sub(r"_{2,}", "_", "".join(out))
    name = re.sub(r"\s+", " ", name).lstrip(" .-").rstrip(" .")
    if len(name) > MAX_NAME_CHARS:
        stem, ext = os.path.splitext(name)
        if 1 < len(ext) <= 10:
            name = stem[: MAX_NAME_CHARS - len(ext)].rstrip(" .") + ext
        else:
            name = name[:MAX_NAME_CHARS].rstrip(" .")
    return name or "audio"


class MixingBuddyError(Exception):
    """Base class. ``code`` is stable; ``str(err)`` is one line meant for a user."""

    code = "error"

    def __init__(self, message: str, *, path: str | os.PathLike | None = None):
        name = sanitize_name(path) if path is not None else None
        self.path = str(path) if path is not None else None
        text = f"{name}: {message}" if name else message
        super().__init__(" ".join(text.split()))  # always one line


class AudioFileNotFoundError(MixingBuddyError):
    code = "not_found"


class EmptyFileError(MixingBuddyError):
    code = "empty_file"


class TruncatedFileError(MixingBuddyError):
    code = "truncated_file"


class NotAudioError(MixingBuddyError):
    code = "not_audio"


class UnsupportedFormatError(MixingBuddyError):
    code = "unsupported_format"


class NonFiniteSamplesError(MixingBuddyError):
    code = "non_finite_samples"


class SampleRangeError(MixingBuddyError):
    code = "samples_out_of_range"


class SilentAudioError(MixingBuddyError):
    code = "silent_audio"


class TooLongError(MixingBuddyError):
    code = "too_long"


class TooShortError(MixingBuddyError):
    code = "too_short"


class TooManyChannelsError(MixingBuddyError):
    code = "too_many_channels"


class SampleRateError(MixingBuddyError):
    code = "bad_sample_rate"


class StemSetError(MixingBuddyError):
    """A stem set that cannot be analysed (no stems, unknown role, duplicate roles...)."""

    code = "bad_stem_set"


class InvalidArgumentError(MixingBuddyError):
    """A tool was called with arguments that fail validation."""

    code = "invalid_argument"


def named_error(cls: type[MixingBuddyError], name: str, message: str,
                path: str | None = None) -> MixingBuddyError:
    """An error of type ``cls`` whose message starts with ``name``, a display name already
    sanitised by :func:`sanitize_name`, and that keeps ``path`` (unsanitised) as ``.path``.

    Used when the display name differs from the path's base name (a stream of a
    ``.stem.mp4``, a stem in a list); passing ``path=`` to the class itself would print the
    base name of the path instead.
    """
    err = cls(f"{name}: {message}")
    err.path = path
    return err


class SeparatorUnavailableError(MixingBuddyError):
    """Source separation was asked for but its weights are missing, damaged or unreadable."""

    code = "separator_unavailable"
