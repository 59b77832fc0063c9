"""Writing results all or nothing, JSON from numpy values and files' SHA-256: shared by every command that writes
files.

Free of torch and Django, and on the ground floor (studyapp and analysis may import saliency, never the
reverse), so that the stimuli, the explanation metrics, the export, the invite links, the report and the
power plan are all written the same way.
"""

import hashlib
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np


def publish_folder(out, write, prefix):
    """Call write(folder) on a new temporary folder beside `out`, then move its files into `out`.

    On any error nothing reaches `out`; files of `out` that `write` does not make are left alone.
    """
    out = Path(out).absolute()
    anchor = out.parent
    while not anchor.exists():
        anchor = anchor.parent
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=anchor))
    try:
        write(staging)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not out.exists():
            staging.rename(out)
            return out
        for item in list(staging.iterdir()):
            target = out / item.name
            if target.is_dir() and not target.is_symlink():
                target.rename(staging / f".previous-{item.name}")
            item.replace(target)
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def file_sha256(path):
    """The SHA-256 of a file's bytes, as hex (what `sha256sum` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def json_ready(value):
    """`value` with numpy numbers as Python ones and NaN or infinity as None (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value
