"""``mixingbuddy separate MIX --out DIR``: the separated stems as WAV, with their levels."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .license import LICENSE_NOTE

__all__ = ["add_separate_parser", "cmd_separate"]


def cmd_separate(args) -> int:
    import soundfile as sf
    from tqdm import tqdm

    from ..errors import InvalidArgumentError
    from ..io.ingest import load_audio
    from .htdemucs import SeparatorConfig
    from .separation import separate_mix

    if args.windows is not None and args.windows < 1:
        raise InvalidArgumentError(f"--windows must be 1 or more, got {args.windows}")
    if not 1.0 <= args.window_s <= 60.0:
        raise InvalidArgumentError(f"--window-s must be within 1..60 s, got {args.window_s}")
    if not 0.0 <= args.overlap <= 0.5:
        raise InvalidArgumentError(f"--overlap must be within 0..0.5, got {args.overlap}")
    mix = load_audio(args.mix, max_duration_s=args.max_minutes * 60.0)
    bar = tqdm(total=1, desc="separate", unit="segment", disable=None, leave=False, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    with bar:
        sep = separate_mix(mix, n_windows=args.windows, window_s=args.window_s, overlap=args.overlap,
                           config=SeparatorConfig(threads=args.threads, overlap=args.overlap), progress=progress)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for role, x in sep.stems.items():
        sf.write(out / f"{role}.wav", x, sep.sr, subtype="FLOAT")
    sf.write(out / "residual.wav", sep.residual, sep.sr, subtype="FLOAT")
    summary = sep.summary() | {"mix": mix.name, "files": sorted(p.name for p in out.glob("*.wav"))}
    (out / "separation.json").write_text(json.dumps(summary, indent=1))
    lv = summary["levels"]
    print(f"{mix.name}: {len(sep.windows_s)} window(s), {sep.duration_s:.1f} s separated in {sep.seconds:.1f} s; "
          f"residual {sep.residual_db} dB")
    for role in ("vocals", "drums", "bass", "other"):
        v = lv[role]["vs_rest_db"]
        print(f"  {role:<7} {'silent' if v is None else f'{v:+.1f} dB vs the rest'}  -> {out / (role + '.wav')}")
    print(f"  levels and windows: {out / 'separation.json'}\n  {LICENSE_NOTE}")
    return 0


def add_separate_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "separate", help="split a mix into vocals, drums, bass and other (HT-Demucs; research use only)",
        description="Separate a bounced mix's loudest windows (or the whole mix) into four stems with "
                    "HT-Demucs v4; writes <role>.wav, residual.wav (mix minus the stems) and separation.json "
                    "(levels, windows, residual).",
        epilog=LICENSE_NOTE)
    p.add_argument("mix", help="the mix (any format `analyze` reads)")
    p.add_argument("--out", required=True, help="folder for the stems")
    p.add_argument("--windows", type=int, default=None,
                   help="separate only the N loudest windows (default: the whole mix)")
    p.add_argument("--window-s", type=float, default=10.0, help="window length in seconds (default 10)")
    p.add_argument("--overlap", type=float, default=0.25, help="overlap of the model's segments, 0..0.5 (default 0.25)")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime threads (default: cores, at most 4)")
    p.add_argument("--max-minutes", type=float, default=20.0, help="refuse files longer than this (default 20)")
    p.set_defaults(func=cmd_separate)
    return p
