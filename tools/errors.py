"""Typed ingest and measurement errors.

Every error carries a stable machine-readable ``code`` and a one-line, specific message that
names the file (by its base name only) and what is wrong with it. The CLI prints
``error[<code>]: <message>`` and exits non-zero; the agent and the UI show the message as is.
"""
from __future__ import annotations

import os


class MixingBuddyError(Exception):
    """Base class. ``code`` is stable; ``str(err)`` is one line meant for a user."""

    code = "error"

    def __init__(self, message: str, *, path: str | os.PathLike | None = None):
        name = os.path.basename(str(path)) if path is not None else None
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
