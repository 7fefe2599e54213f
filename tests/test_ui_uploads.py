"""ui.uploads: limits, session folders, safe ZIPs, .stem.mp4 stems, bad files — with real files."""
from __future__ import annotations

import os
import stat
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import make_sine, write_av

from mixingbuddy.tools.errors import (
    EmptyFileError,
    InvalidArgumentError,
    MixingBuddyError,
    NotAudioError,
    StemSetError,
)
from mixingbuddy.ui import uploads
from mixingbuddy.ui.uploads import (
    PreparedUpload,
    UnsafeArchiveError,
    UploadLimitError,
    UploadLimits,
    UploadSession,
    cleanup_stale,
    load_prepared,
    prepare_upload,
)

SR = 44_100


def _wav(path: Path, freq: float = 440.0, dur_s: float = 1.0, amp: float = 0.3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, make_sine(freq, dur_s, SR, amp, channels=2), SR, subtype="PCM_16")
    return path


@pytest.fixture
def session(tmp_path):
    s = UploadSession(tmp_path / "sessions")
    yield s
    s.cleanup()


@pytest.fixture
def files(tmp_path):
    src = tmp_path / "browser"
    return {
        "mix": _wav(src / "My Mix.wav", 220),
        "vocals": _wav(src / "Lead Vox.wav", 660),
        "bass": _wav(src / "Bass.wav", 55),
        "ref": _wav(src / "ref.wav", 330),
    }


def test_mix_stems_reference_copied_and_loadable(session, files):
    prep = prepare_upload(session, str(files["mix"]), [str(files["vocals"]), files["bass"]],
                          {"path": str(files["ref"])})
    assert isinstance(prep, PreparedUpload)
    assert prep.mix.parent.parent == session.path and prep.mix.name == "My Mix.wav"
    assert sorted(p.name for p in prep.stems) == ["Bass.wav", "Lead Vox.wav"]
    assert prep.reference is not None and prep.reference.read_bytes() == files["ref"].read_bytes()
    assert prep.total_bytes == sum(f.stat().st_size for f in files.values())
    assert prep.has_stems and not prep.mix_is_stem_container
    mix, stems, ref = load_prepared(prep)
    assert sorted(stems.roles) == ["bass", "vocals"]
    assert ref is not None and mix.duration_s == pytest.approx(1.0, abs=0.01)


def test_session_cleanup_leaves_nothing(tmp_path, files):
    root = tmp_path / "sessions"
    with UploadSession(root) as s:
        prep = prepare_upload(s, files["mix"])
        assert prep.mix.exists()
        assert oct(s.path.stat().st_mode & 0o777) == "0o700"
    assert not s.path.exists() and list(root.iterdir()) == []
    with pytest.raises(InvalidArgumentError):
        s.subdir("mix")
    # a failed upload leaves no sub-folder behind either
    s2 = UploadSession(root)
    bad = tmp_path / "notes.wav"
    bad.write_text("these are my mix notes, not audio\n" * 20)
    with pytest.raises(NotAudioError):
        prepare_upload(s2, files["mix"], [bad])
    assert list(s2.path.iterdir()) == []
    s2.cleanup()


def test_cleanup_stale_removes_only_old_sessions(tmp_path):
    root = tmp_path / "sessions"
    old, new = UploadSession(root), UploadSession(root)
    (root / "unrelated").mkdir()
    past = time.time() - 3 * 24 * 3600
    os.utime(old.path, (past, past))
    assert cleanup_stale(root, max_age_s=24 * 3600) == 1
    assert not old.path.exists() and new.path.exists() and (root / "unrelated").exists()
    assert cleanup_stale(tmp_path / "missing") == 0


def test_oversize_upload_refused(session, files, tmp_path):
    limits = UploadLimits(max_total_bytes=150_000)
    big = _wav(tmp_path / "browser" / "big.wav", dur_s=2.0)  # ~350 kB
    with pytest.raises(UploadLimitError) as e:
        prepare_upload(session, big, limits=limits)
    msg = str(e.value)
    assert "limit is 0.15 MB" in msg and "big.wav" in msg and e.value.code == "upload_limit"
    assert "\n" not in msg
    # under the limit it passes
    assert prepare_upload(session, files["mix"], limits=UploadLimits(max_total_bytes=1_000_000)).mix.exists()


def test_too_many_files_refused(session, files, tmp_path):
    stems = [_wav(tmp_path / "many" / f"s{i}.wav", 100 + i, dur_s=0.1) for i in range(16)]
    with pytest.raises(UploadLimitError, match=r"17 files .* at most 16"):
        prepare_upload(session, files["mix"], stems)
    assert prepare_upload(session, files["mix"], stems[:15]).stems  # 16 in all is fine
    with pytest.raises(UploadLimitError, match="at most 3"):
        prepare_upload(session, files["mix"], stems[:3], limits=UploadLimits(max_files=3))


def test_malicious_names_are_sanitised(session, tmp_path):
    weird = tmp_path / "browser" / "$(rm -rf ~); `x` |evil\n<name>.wav"
    _wav(weird)
    prep = prepare_upload(session, weird)
    name = prep.mix.name
    assert prep.mix.parent == session.path / "mix"
    assert not any(c in name for c in "$`|;<>\n()")
    assert name.endswith(".wav") and prep.mix.exists()
    # two uploads with the same name do not overwrite each other
    a = _wav(tmp_path / "a" / "Vox.wav", 500)
    b = _wav(tmp_path / "b" / "Vox.wav", 700)
    prep = prepare_upload(session, a, [a, b])
    assert sorted(p.name for p in prep.stems) == ["Vox (2).wav", "Vox.wav"]


def _zip(path: Path, members: dict[str, bytes], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return path


def test_zip_of_stems_extracted_flat(session, files, tmp_path):
    z = _zip(tmp_path / "stems.zip", {
        "song/Lead Vox.wav": files["vocals"].read_bytes(),
        "song/bass/Bass.wav": files["bass"].read_bytes(),
        "song/README.txt": b"stems for my song\n" * 10,
        "__MACOSX/song/._Bass.wav": b"\x00\x05\x16\x07junk",
        "song/.DS_Store": b"junk",
    })
    prep = prepare_upload(session, files["mix"], [z])
    assert sorted(p.name for p in prep.stems) == ["Bass.wav", "Lead Vox.wav"]
    assert all(p.parent == session.path / "stems" for p in prep.stems)
    assert any("README.txt" in w for w in prep.warnings)
    assert any("hidden" in w for w in prep.warnings)
    _, stems, _ = load_prepared(prep)
    assert sorted(stems.roles) == ["bass", "vocals"]


@pytest.mark.parametrize("member", ["../evil.wav", "/tmp/abs_evil.wav", "..\\evil.wav",
                                    "C:/evil.wav", "ok/../../evil.wav"])
def test_zip_slip_refused(session, files, tmp_path, member):
    z = _zip(tmp_path / "slip.zip", {"fine.wav": files["vocals"].read_bytes(),
                                     member: files["bass"].read_bytes()})
    with pytest.raises(UnsafeArchiveError) as e:
        prepare_upload(session, files["mix"], [z])
    assert e.value.code == "unsafe_archive" and "slip.zip" in str(e.value)
    assert not (tmp_path / "evil.wav").exists() and not (session.path / "evil.wav").exists()
    assert not Path("/tmp/abs_evil.wav").exists()
    assert not (session.path / "stems").exists()  # nothing extracted, folder removed


def test_zip_symlink_and_bomb_refused(session, files, tmp_path):
    z = _zip(tmp_path / "link.zip", {"a.wav": files["vocals"].read_bytes()}, symlink="b.wav")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        prepare_upload(session, files["mix"], [z])
    # 4 MB of zeros compress to a few kB: refused from the declared size, before extraction
    bomb = _zip(tmp_path / "bomb.zip", {"a.wav": b"\x00" * 4_000_000})
    assert bomb.stat().st_size < 50_000
    with pytest.raises(UnsafeArchiveError, match="expand to 4 MB; the limit is 2 MB"):
        prepare_upload(session, files["mix"], [bomb],
                       limits=UploadLimits(max_total_bytes=1_000_000, max_unzipped_bytes=2_000_000))
    many = _zip(tmp_path / "many.zip", {f"s{i}.wav": files["vocals"].read_bytes() for i in range(16)})
    with pytest.raises(UploadLimitError, match="holds 16 files"):
        prepare_upload(session, files["mix"], [many])
    not_zip = tmp_path / "broken.zip"
    not_zip.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(UnsafeArchiveError, match="not a readable ZIP"):
        prepare_upload(session, files["mix"], [not_zip])
    empty = _zip(tmp_path / "text.zip", {"notes.txt": b"hello there, not audio\n" * 5})
    with pytest.raises(StemSetError, match="no audio files"):
        prepare_upload(session, files["mix"], [empty])


def test_zip_as_the_mix_refused(session, files, tmp_path):
    z = _zip(tmp_path / "mix.zip", {"mix.wav": files["mix"].read_bytes()})
    with pytest.raises(InvalidArgumentError, match="stems only"):
        prepare_upload(session, z)


def test_empty_corrupt_and_missing_files(session, files, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.wav"):
        prepare_upload(session, empty)
    with pytest.raises(EmptyFileError):
        prepare_upload(session, files["mix"], reference=empty)
    text = tmp_path / "lyrics.mp3"
    text.write_text("verse one\n" * 50)
    with pytest.raises(NotAudioError, match="lyrics.mp3: is a text file"):
        prepare_upload(session, text)
    png = tmp_path / "cover.flac"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    with pytest.raises(NotAudioError):
        prepare_upload(session, files["mix"], [png])
    # a WAV whose header promises 10 s but holds 0.05 s: accepted here, refused by ingest
    good = files["mix"].read_bytes()
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(good[:44] + good[44:44 + 8820])
    prep = prepare_upload(session, corrupt)
    with pytest.raises(MixingBuddyError) as e:
        load_prepared(prep)
    assert "corrupt.wav" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(MixingBuddyError, match="not found"):
        prepare_upload(session, tmp_path / "nope.wav")
    with pytest.raises(InvalidArgumentError, match="no mix"):
        prepare_upload(session, None)
    with pytest.raises(InvalidArgumentError, match="one reference"):
        prepare_upload(session, files["mix"], reference=[files["ref"], files["ref"]])


def _stem_mp4(path: Path, dur_s: float = 1.5) -> Path:
    sigs = [make_sine(f, dur_s, SR, 0.2, channels=2) for f in (200, 80, 50, 400, 900)]
    sigs[0] = sum(sigs[1:]).astype(np.float32)
    return write_av(path, sigs, SR)


def test_stem_mp4_as_stems_and_as_mix(session, files, tmp_path):
    container = _stem_mp4(tmp_path / "song.stem.mp4")
    prep = prepare_upload(session, files["mix"], [container])
    assert sorted(p.name for p in prep.stems) == ["bass.wav", "drums.wav", "other.wav", "vocals.wav"]
    _, stems, _ = load_prepared(prep)
    assert sorted(stems.roles) == ["bass", "drums", "other", "vocals"]
    with pytest.raises(StemSetError, match="upload it alone"):
        prepare_upload(session, files["mix"], [container, files["vocals"]])
    prep = prepare_upload(session, container)
    assert prep.mix_is_stem_container and prep.has_stems and prep.stems == []
    _, stems, _ = load_prepared(prep)
    assert stems is not None and len(stems.roles) == 4


def test_limits_from_env_and_validation():
    lim = UploadLimits.from_env({"MIXINGBUDDY_MAX_UPLOAD_MB": "50", "MIXINGBUDDY_MAX_UPLOAD_FILES": "4"})
    assert lim.max_total_bytes == 50_000_000 and lim.max_files == 4
    assert UploadLimits.from_env({}) == UploadLimits()
    with pytest.raises(InvalidArgumentError):
        UploadLimits.from_env({"MIXINGBUDDY_MAX_UPLOAD_MB": "lots"})
    with pytest.raises(InvalidArgumentError):
        UploadLimits(max_files=0)


def test_upload_path_forms(tmp_path):
    class FileData:
        path = str(tmp_path / "x.wav")

    assert uploads.upload_path(FileData()) == str(tmp_path / "x.wav")
    assert uploads.upload_path({"path": "/a/b.wav"}) == "/a/b.wav"
    assert uploads.upload_path(Path("/a/c.wav")) == "/a/c.wav"
    assert uploads.upload_path(None) is None
    with pytest.raises(InvalidArgumentError):
        uploads.upload_path(42)


def test_zip_bomb_under_the_size_limit_refused_before_writing(session, files, tmp_path):
    """A ZIP of about 1 MB that declares ~990 MB (under the default 1000 MB unzipped limit) of a
    WAV of zeros: refused from its compression ratio before a byte is extracted."""
    bomb = tmp_path / "stems.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("vocals.wav", "w", force_zip64=True) as f:
            f.write(files["vocals"].read_bytes()[:44])
            chunk = bytes(1 << 20)
            for _ in range(940):
                f.write(chunk)
    assert bomb.stat().st_size < 1_100_000
    declared = sum(i.file_size for i in zipfile.ZipFile(bomb).infolist())
    assert declared < UploadLimits().max_unzipped_bytes  # the declared-total check alone lets it in
    with pytest.raises(UnsafeArchiveError, match="zip bomb"):
        prepare_upload(session, files["mix"], [bomb])
    written = sum(p.stat().st_size for p in Path(session.path).rglob("*") if p.is_file())
    assert written < 1 << 20  # nothing of it was extracted
