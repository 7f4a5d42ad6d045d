"""A PEFT LoRA adapter as a GGUF LoRA file, converted by llama.cpp's own converter, so the adapter arms run on
the llamacpp backend (docs/architecture.md, "LLM layer").

    path = convert(ws.models / "hybrid", base_gguf)     # cached: converted once per adapter and base

The converter is ``convert_lora_to_gguf.py`` of the llama.cpp that llama-cpp-python vendors: ``make
setup-llamacpp`` unpacks it (and its ``conversion`` package) from the same source archive pip compiled, into
``.venv/share/llama.cpp/`` with llama.cpp's own ``gguf-py`` (newer than PyPI's gguf of the same version), which
the converter's process reads first (``CASEBASE_LLAMACPP_CONVERTER`` names another copy). It reads the adapter's
safetensors and the base model's ``config.json``: the transformers checkpoint ``casebase.llm.gguf`` converts
the GGUF to, the one the adapter was trained on. The result is cached by content under
``$CASEBASE_CACHE_DIR/lora-gguf/`` (the adapter's files, the base GGUF, the converter), written whole or not at all.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from casebase.errors import CasebaseError
from casebase.llm.gguf import cache_dir_for, cache_root

CONVERTER_VARIABLE = "CASEBASE_LLAMACPP_CONVERTER"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
INSTALL_HINT = ("llama.cpp's LoRA converter is not installed: run `make setup-llamacpp` (it unpacks "
                "convert_lora_to_gguf.py into .venv/share/llama.cpp), or set CASEBASE_LLAMACPP_CONVERTER to a copy")


def converter() -> Path | None:
    """llama.cpp's convert_lora_to_gguf.py, where one is installed."""
    given = os.environ.get(CONVERTER_VARIABLE)
    path = Path(given) if given else Path(sys.prefix) / "share" / "llama.cpp" / "convert_lora_to_gguf.py"
    return path if path.is_file() else None


def available() -> bool:
    return converter() is not None


def _sha256(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def converted_path(adapter: Path, base_gguf: Path) -> Path:
    """Where the GGUF of ``adapter`` on ``base_gguf`` is cached: keyed by the adapter's files, the base and the
    converter, so a retrained adapter or another converter is converted again."""
    script = converter()
    if script is None:
        raise CasebaseError(INSTALL_HINT)
    missing = [name for name in ADAPTER_FILES if not (adapter / name).is_file()]
    if missing:
        raise CasebaseError(f"{adapter} is not a PEFT LoRA adapter ({', '.join(missing)} missing): train it with "
                            f"`casebase train`")
    key = hashlib.sha256("\n".join([_sha256(*(adapter / n for n in ADAPTER_FILES)), cache_dir_for(base_gguf).name,
                                    _sha256(script)]).encode()).hexdigest()[:16]
    return cache_root().parent / "lora-gguf" / f"{adapter.name}-{key}.gguf"


def convert(adapter: str | Path, base_gguf: str | Path) -> Path:
    """The GGUF LoRA file of the PEFT adapter in ``adapter`` (trained on ``base_gguf``), converted once."""
    adapter, base_gguf = Path(adapter), Path(base_gguf)
    target = converted_path(adapter, base_gguf)
    if target.is_file():
        return target
    base = cache_dir_for(base_gguf)
    if not (base / "config.json").is_file():  # the transformers checkpoint of the GGUF: converted once, cached
        import torch

        from casebase.llm.gguf import load_gguf

        load_gguf(base_gguf, torch.float32)
        if not (base / "config.json").is_file():
            raise CasebaseError(f"could not write the transformers checkpoint of {base_gguf} to {base}: set "
                                f"CASEBASE_CACHE_DIR to a writable directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    script = converter()
    cmd = [sys.executable, str(script), "--base", str(base), "--outtype", "f32", "--outfile", str(tmp), str(adapter)]
    # its own gguf-py first: the converter uses parts of gguf newer than the PyPI release of the same version
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(
        [str(script.parent), str(script.parent / "gguf-py"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
        if done.returncode != 0 or not tmp.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise CasebaseError(f"llama.cpp's converter could not convert the adapter {adapter} "
                                f"(exit {done.returncode}):\n{tail}")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def install_converter(target: Path | None = None) -> Path:
    """Unpack llama.cpp's convert_lora_to_gguf.py, its ``conversion`` package and its ``gguf-py`` from the source archive of the
    installed llama-cpp-python (pip's cache holds it after ``make setup-llamacpp`` built it) into
    ``.venv/share/llama.cpp``; the path of the script."""
    import tarfile
    import tempfile
    from importlib import metadata

    try:
        version = metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        raise CasebaseError("llama-cpp-python is not installed: run `make setup-llamacpp`") from None
    target = target or Path(sys.prefix) / "share" / "llama.cpp"
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                              "--no-deps", "--no-binary", ":all:", f"llama-cpp-python=={version}", "-d", tmp],
                             capture_output=True, text=True)
        archives = sorted(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if got.returncode != 0 or not archives:
            raise CasebaseError(f"could not fetch the source of llama-cpp-python {version} for its LoRA converter: "
                                f"{(got.stderr or got.stdout).strip()[-400:]}")
        root = f"{archives[0].name.removesuffix('.tar.gz')}/vendor/llama.cpp/"
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".llama.cpp-"))  # renamed into place whole
        with tarfile.open(archives[0]) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and (
                m.name == root + "convert_lora_to_gguf.py"
                or m.name.startswith((root + "conversion/", root + "gguf-py/gguf/")))]
            if not any(m.name.endswith("convert_lora_to_gguf.py") for m in members):
                raise CasebaseError(f"{archives[0].name} holds no convert_lora_to_gguf.py")
            for m in members:
                m.name = m.name[len(root):]
            tar.extractall(staging, members=members, filter="data")
    if target.exists():
        import shutil

        shutil.rmtree(target)
    os.replace(staging, target)
    return target / "convert_lora_to_gguf.py"


if __name__ == "__main__":
    print(install_converter())
