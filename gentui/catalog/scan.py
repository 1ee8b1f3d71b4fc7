"""Finding what to import: walk folders, pair each image with its sidecar files.

`X.png` (or .jpg/.jpeg/.webp) pairs with `X.json` (gentui/genserver sidecar)
and `X.metadata.json` (mflux). Folders are walked with `os.scandir`, following
symlinked folders but never one already visited (by device + inode), so a
symlink loop ends the walk of that branch with a report instead of recursing
forever. Hidden entries (names starting with `.`) and the thumbnail folder are
skipped. Everything that cannot be used is returned as `(path, reason)`, with
undecodable file names shown readably (`\\xff` escapes).
"""

from __future__ import annotations

import os
import stat as stat_mod
from dataclasses import dataclass

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp")
META_SUFFIX = ".metadata.json"


@dataclass
class Candidate:
    """One image and the files that describe it, with the stats used to skip unchanged pairs."""

    image: str
    sidecar: str | None
    meta: str | None
    size: int
    mtime_ns: int
    side_size: int | None = None
    side_mtime_ns: int | None = None

    @property
    def main_sidecar(self) -> str | None:
        return self.sidecar or self.meta


def readable(path: str | bytes) -> str:
    """A path for messages: bytes that are not UTF-8 shown as `\\xNN`."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _utf8_ok(path: str) -> bool:
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def make_candidate(image: str, names: set[str] | None = None) -> tuple[Candidate | None, str | None]:
    """Pair one image path with its sidecar files; (None, reason) when it cannot be used."""
    if not _utf8_ok(image):
        return None, "file name is not valid UTF-8; rename it to import it"
    try:
        st = os.stat(image)
    except FileNotFoundError:
        return None, "broken symlink or file vanished" if os.path.islink(image) else "file not found"
    except OSError as e:
        return None, f"cannot read: {e.strerror}"
    if not stat_mod.S_ISREG(st.st_mode):
        return None, "not a regular file"
    stem = os.path.splitext(image)[0]
    side = meta = None
    side_size = side_mtime = None
    for cand, kind in ((stem + ".json", "side"), (stem + META_SUFFIX, "meta")):
        if names is not None and os.path.basename(cand) not in names:
            continue
        sst = _stat(cand)
        if sst is None:
            if names is not None and os.path.lexists(cand):
                # listed but unstat-able (e.g. broken symlink): let the reader report it
                sst = None
            else:
                continue
        if kind == "side":
            side = cand
        else:
            meta = cand
        if sst is not None:
            side_size = (side_size or 0) + sst.st_size
            side_mtime = max(side_mtime or 0, sst.st_mtime_ns)
    # One row per file however it was reached (a symlinked output folder, the worker's own path).
    real = os.path.realpath(image)
    if real != image and not _utf8_ok(real):
        return None, "resolved file name is not valid UTF-8; rename it to import it"
    return Candidate(real, side, meta, st.st_size, st.st_mtime_ns, side_size, side_mtime), None


def _image_for(stem: str, names: set[str] | None) -> str | None:
    d = os.path.dirname(stem)
    base = os.path.basename(stem)
    for ext in IMAGE_EXTS:
        for e in (ext, ext.upper()):
            name = base + e
            if (names is not None and name in names) or (names is None and os.path.exists(os.path.join(d, name))):
                return os.path.join(d, name)
    return None


def _sidecar_stem(name: str) -> str | None:
    low = name.lower()
    if low.endswith(META_SUFFIX):
        return name[: -len(META_SUFFIX)]
    if low.endswith(".json"):
        return name[: -len(".json")]
    return None


@dataclass
class ScanResult:
    candidates: list[Candidate]
    failures: list[tuple[str, str]]
    """Files that cannot be imported: (readable path, reason)."""
    warnings: list[tuple[str, str]]
    """Things skipped on purpose, e.g. a folder reached again through a symlink loop."""
    roots: list[str]
    """Absolute folders that were walked (for `--rebuild` pruning)."""


def scan(paths: list[str], skip_dirs: tuple[str, ...] = ()) -> ScanResult:
    """Walk `paths` (files or folders) and pair every image with its sidecars."""
    found: list[Candidate] = []
    failures: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    roots: list[str] = []
    seen_images: set[str] = set()
    skip = {os.path.realpath(p) for p in skip_dirs}
    visited: set[tuple[int, int]] = set()

    def add_image(path: str, names: set[str] | None) -> None:
        if path in seen_images:
            return
        seen_images.add(path)
        cand, why = make_candidate(path, names)
        if cand is None:
            failures.append((readable(path), why or "unusable"))
        else:
            found.append(cand)

    def walk_dir(top: str) -> None:
        stack = [top]
        while stack:
            d = stack.pop()
            try:
                st = os.stat(d)
            except OSError as e:
                failures.append((readable(d), f"cannot open folder: {e.strerror}"))
                continue
            if (st.st_dev, st.st_ino) in visited:
                warnings.append((readable(d), "folder already walked (symlink loop or a second link to it); skipped"))
                continue
            visited.add((st.st_dev, st.st_ino))
            if os.path.realpath(d) in skip:
                continue
            try:
                with os.scandir(d) as it:
                    entries = [e for e in it if not e.name.startswith(".")]
            except OSError as e:
                failures.append((readable(d), f"cannot list folder: {e.strerror}"))
                continue
            names = {e.name for e in entries}
            subdirs = []
            for e in sorted(entries, key=lambda e: e.name):
                try:
                    is_dir = e.is_dir()  # follows symlinks
                except OSError:
                    is_dir = False
                if is_dir:
                    subdirs.append(e.path)
                    continue
                low = e.name.lower()
                if low.endswith(IMAGE_EXTS):
                    add_image(e.path, names)
                elif low.endswith(".json"):
                    stem = _sidecar_stem(e.name)
                    if stem and _image_for(os.path.join(d, stem), names) is None:
                        failures.append((readable(e.path), "sidecar without an image (looked for "
                                         + ", ".join(stem + x for x in IMAGE_EXTS) + ")"))
            stack.extend(reversed(subdirs))

    for p in paths:
        p = os.fspath(p)
        ap = os.path.abspath(p)
        if os.path.isdir(ap):
            roots.append(os.path.realpath(ap))  # rows hold real paths
            walk_dir(ap)
        elif ap.lower().endswith(IMAGE_EXTS):
            add_image(ap, None)
        elif ap.lower().endswith(".json"):
            stem = _sidecar_stem(os.path.basename(ap))
            img = _image_for(os.path.join(os.path.dirname(ap), stem or ""), None) if stem else None
            if img is None:
                failures.append((readable(ap), "sidecar without an image"))
            else:
                add_image(img, None)
        elif not os.path.lexists(ap):
            failures.append((readable(ap), "no such file or folder"))
        else:
            failures.append((readable(ap), "not an image (.png .jpg .jpeg .webp), sidecar (.json) or folder"))
    return ScanResult(found, failures, warnings, roots)
